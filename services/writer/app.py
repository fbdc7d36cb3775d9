"""The results-writer: ``listings.classified`` -> SQL, one transaction per batch.

Idempotent by ``submission_id`` (see :mod:`shared.db.store`): a redelivered batch inserts
nothing twice, moves no listing backwards and counts no job progress twice. A failing batch
raises, stays pending and is re-run message by message by the broker's reclaimer.
"""

from __future__ import annotations

import asyncio
import logging

from shared.broker import Emit, Reject, WorkerApp
from shared.config import Settings
from shared.contract import ListingClassified, Stream
from shared.db.session import session_scope
from shared.db.store import WriteResult, migrate, write_predictions

log = logging.getLogger(__name__)


def write_batch(database_url: str, events: list[ListingClassified]) -> WriteResult:
    """Write one batch in one transaction (blocking; run it in a thread)."""
    with session_scope(database_url) as session:
        return write_predictions(session, events)


def create_worker(settings: Settings) -> WorkerApp:
    """The ``writer`` worker (``catalog worker writer``)."""
    worker = WorkerApp("writer", settings)
    url = settings.effective_database_url

    @worker.on_startup
    async def migrate_schema() -> None:
        await asyncio.to_thread(migrate, url)

    @worker.consume(Stream.CLASSIFIED, ListingClassified, batch=True)
    async def store(events: list[ListingClassified]) -> list[Emit | Reject]:
        """Stores predictions, each listing's current category and job progress."""
        result = await asyncio.to_thread(write_batch, url, events)
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

    return worker
