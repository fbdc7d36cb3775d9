"""The language worker: ``listings.submitted`` -> ``listings.prepared`` (``catalog worker language``).

The handler only translates events to :class:`Preparer` calls; all logic lives in ``logic.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.broker import Consumer, Emit, Outcome, WorkerApp, WorkerSpec
from shared.config import Settings
from shared.contract import ListingSubmitted, Stream
from shared.db.session import migrate, session_scope
from shared.db.submissions import record_on_entry
from shared.trust import refuse_future

from .logic import Preparer


@dataclass
class Deps:
    """Built once per process: the preparer holds the detector and the translation client;
    ``database_url``: the ledger every submission is recorded in on entry (None: not recorded,
    handler tests), ``max_skew_s``: how far ahead a ``submitted`` stamp may be."""

    preparer: Preparer
    database_url: str | None = None
    max_skew_s: float = 300.0


def record_entries(database_url: str, events: list[ListingSubmitted]) -> int:
    """Record in the ledger the submissions published straight to the stream (blocking)."""
    with session_scope(database_url) as session:
        return len(record_on_entry(session, events))


async def prepare(events: list[ListingSubmitted], deps: Deps) -> list[Outcome]:
    """Cleans, detects the language and translates non-French offers to French."""
    # The first stage of every offer: it refuses a `submitted` stamp beyond the clock skew and
    # records in the ledger a submission nobody recorded (published straight to the stream), so
    # the writer stores results only for recorded submissions (shared/trust.py).
    events, refused = refuse_future(events, deps.max_skew_s)
    if deps.database_url is not None and events:
        await asyncio.to_thread(record_entries, deps.database_url, events)
    prepared = await deps.preparer.prepare(events) if events else []
    return [*refused, *(Emit(Stream.PREPARED, event) for event in prepared)]


async def open_deps(settings: Settings, redis: Redis) -> Deps:
    # The worker's Redis client backs the translation cache (keys under the prefix).
    url = settings.effective_database_url
    await asyncio.to_thread(migrate, url)
    return Deps(Preparer.from_settings(settings, redis), url, settings.max_clock_skew_s)


async def close_deps(deps: Deps) -> None:
    deps.preparer.close()


SPEC = WorkerSpec(
    name="language",
    consumes=(Consumer(Stream.SUBMITTED, ListingSubmitted, prepare),),
    publishes=(Stream.PREPARED,),
    open=open_deps,
    close=close_deps,
    image="slim",
    description="Cleans the text, detects its language and translates non-French offers to French.",
)


def create_worker(settings: Settings) -> WorkerApp:
    """A worker that prepares submitted offers in batches of ``settings.batch_size``."""
    return WorkerApp.from_spec(SPEC, settings)
