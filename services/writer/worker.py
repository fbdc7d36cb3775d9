"""The results-writer: ``listings.classified`` -> SQL, one transaction per batch.

Idempotent by ``submission_id`` (see ``store.py``): a redelivered batch inserts nothing twice,
moves no listing backwards and counts no job progress twice. A failing batch raises, stays
pending and is re-run message by message by the broker's reclaimer. Events it cannot trust
(``trust.py``: unrecorded submissions, unknown model versions, future stamps) are
dead-lettered with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.broker import Consumer, Outcome, Reject, WorkerApp, WorkerSpec
from shared.config import Settings
from shared.contract import ListingClassified, Stream
from shared.db.session import migrate, session_scope

from .store import WriteResult, write_predictions
from .trust import KnownVersions, admit

log = logging.getLogger(__name__)


@dataclass
class Deps:
    """Built once per process: the database URL (migrated at start), the model versions the
    repository holds and the clock skew allowed to a publisher."""

    database_url: str
    versions: KnownVersions
    max_skew_s: float = 300.0


def write_batch(database_url: str, events: list[ListingClassified]) -> WriteResult:
    """Write one batch in one transaction (blocking; run it in a thread)."""
    with session_scope(database_url) as session:
        return write_predictions(session, events)


def write_trusted(deps: Deps, events: list[ListingClassified]) -> tuple[WriteResult, list[Outcome]]:
    """Admit then write one batch in one transaction (blocking); the refused events' rejections."""
    with session_scope(deps.database_url) as session:
        admission = admit(session, events, deps.versions, deps.max_skew_s)
        result = write_predictions(session, admission.admitted, sequence=admission.sequence)
    for event, reason in admission.refused:
        log.warning("prediction refused", extra={"submission_id": str(event.submission_id), "error": reason})
    return result, [Reject(event, error=reason) for event, reason in admission.refused]


async def store(events: list[ListingClassified], deps: Deps) -> list[Outcome]:
    """Stores predictions, each listing's current category and job progress."""
    result, refused = await asyncio.to_thread(write_trusted, deps, events)
    log.info(
        "predictions written",
        extra={
            "inserted": result.inserted,
            "duplicates": result.duplicates,
            "listings_updated": result.listings_updated,
            "jobs": {str(k): v for k, v in result.jobs_completed.items()},
            "refused": len(refused),
        },
    )
    return refused


async def open_deps(settings: Settings, redis: Redis) -> Deps:
    url = settings.effective_database_url
    versions = KnownVersions(settings.model_repository)
    await asyncio.to_thread(versions.require)
    await asyncio.to_thread(migrate, url)
    return Deps(url, versions, settings.max_clock_skew_s)


SPEC = WorkerSpec(
    name="writer",
    consumes=(Consumer(Stream.CLASSIFIED, ListingClassified, store),),
    publishes=(),
    open=open_deps,
    image="slim",
    description="Stores each prediction, the listing's current category and job progress in SQL.",
)


def create_worker(settings: Settings) -> WorkerApp:
    """The ``writer`` worker (``catalog worker writer``)."""
    return WorkerApp.from_spec(SPEC, settings)
