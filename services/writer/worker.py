"""The results-writer: ``listings.classified`` -> SQL, one transaction per batch.

Idempotent by ``submission_id`` (see ``store.py``): a redelivered batch inserts nothing twice,
moves no listing backwards and counts no job progress twice. A failing batch raises, stays
pending and is re-run message by message by the broker's reclaimer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.broker import Consumer, Outcome, WorkerApp, WorkerSpec
from shared.config import Settings
from shared.contract import ListingClassified, Stream
from shared.db.session import migrate, session_scope

from .store import WriteResult, write_predictions

log = logging.getLogger(__name__)


@dataclass
class Deps:
    """Built once per process: the database URL (migrated at start)."""

    database_url: str


def write_batch(database_url: str, events: list[ListingClassified]) -> WriteResult:
    """Write one batch in one transaction (blocking; run it in a thread)."""
    with session_scope(database_url) as session:
        return write_predictions(session, events)


async def store(events: list[ListingClassified], deps: Deps) -> list[Outcome]:
    """Stores predictions, each listing's current category and job progress."""
    result = await asyncio.to_thread(write_batch, deps.database_url, events)
    log.info(
        "predictions written",
        extra={
            "inserted": result.inserted,
            "duplicates": result.duplicates,
            "listings_updated": result.listings_updated,
            "jobs": {str(k): v for k, v in result.jobs_completed.items()},
        },
    )
    return []


async def open_deps(settings: Settings, redis: Redis) -> Deps:
    url = settings.effective_database_url
    await asyncio.to_thread(migrate, url)
    return Deps(url)


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
