"""One ``catalog ingest`` run: stream the rows, reject the bad ones, publish the good in batches.

Resuming needs no state of its own: each row's ``submission_id`` is derived from the file's
content and the row's number (``row_submission_id``), and the submissions ledger records a
submission before it is published (docs/reliability.md, "Reconciliation"). Running the same
file again (after a crash, a Ctrl-C, a Redis outage) skips every row the ledger already holds
and publishes the rest: no row is published twice by ingest. A batch recorded but not yet
published when the process died stays open in the ledger; the reconciler publishes it (once,
with the same id) after its deadline. ``again=True`` submits the whole file anew (new ids).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from services.api.ingest_rows import RejectsWriter, Row, RowReader, Source
from shared.broker import EventPublisher
from shared.config import Settings
from shared.contract import ListingSubmitted, Origin, Stream, utcnow
from shared.db.listings import upsert_listings
from shared.db.session import migrate, session_scope
from shared.db.submissions import ledger_entries, record_submissions

INGEST_NAMESPACE = uuid.UUID("5c2f8a1e-3b7d-4e0a-9c61-2f4d8b7e1a93")
KEPT_REJECTS = 100
"""Rejected rows kept in the summary (the rejects file has every one)."""


def row_submission_id(run_key: str, row_number: int) -> uuid.UUID:
    """The submission id of row ``row_number`` of the file whose run key is ``run_key``."""
    return uuid.uuid5(INGEST_NAMESPACE, f"{run_key}:{row_number}")


class Sink(Protocol):
    """Where the good rows go: ``known`` says which ids were already submitted."""

    async def known(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]: ...

    async def submit(self, events: Sequence[ListingSubmitted]) -> None: ...


class PipelineSink:
    """The real path: content and ledger in SQL (one transaction), then ``listings.submitted``."""

    def __init__(self, settings: Settings, publisher: EventPublisher) -> None:
        self.url, self.publisher = settings.effective_database_url, publisher

    async def known(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        def query() -> set[uuid.UUID]:
            with session_scope(self.url) as session:
                return set(ledger_entries(session, ids))

        return await asyncio.to_thread(query)

    async def submit(self, events: Sequence[ListingSubmitted]) -> None:
        await asyncio.to_thread(store_offers, self.url, list(events))
        await self.publisher.publish(Stream.SUBMITTED, events)


def store_offers(url: str, events: list[ListingSubmitted]) -> None:
    """Store each offer's content and record its submission (before it is published)."""
    with session_scope(url) as session:
        upsert_listings(session, events)
        record_submissions(session, events)


class DryRunSink:
    """Validates and serialises every event as the publisher would, and stores nothing (the
    ingest benchmark: the reader's and the batches' memory without Redis or SQL)."""

    def __init__(self) -> None:
        self.published = 0
        self.payload_bytes = 0

    async def known(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return set()

    async def submit(self, events: Sequence[ListingSubmitted]) -> None:
        for event in events:
            self.payload_bytes += len(event.model_dump_json().encode())
        self.published += len(events)


@dataclass
class IngestSummary:
    data_dir: str
    x_file: str
    rows: int = 0
    published: int = 0
    already_submitted: int = 0
    rejected: int = 0
    rejects_file: str | None = None
    first_rejects: list[dict[str, object]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class IngestOptions:
    chunk: int = 500
    limit: int | None = None  # only the first N good rows
    again: bool = False  # new submission ids: the file is submitted anew
    rejects_dir: Path | None = None
    progress: Callable[[int, IngestSummary], None] | None = None  # (bytes read, summary so far)
    after_batch: Callable[[int], None] | None = None  # batches published so far (tests inject faults)
    keep: Callable[[Row, ListingSubmitted], None] | None = None  # each good row's event (--wait)


async def ingest_file(source: Source, sink: Sink, options: IngestOptions) -> IngestSummary:
    """Stream ``source`` into ``sink``; the summary names the rejected rows."""
    run_key = uuid.uuid4().hex if options.again else await asyncio.to_thread(source.fingerprint)
    summary = IngestSummary(str(source.data_dir), source.x_path.name)
    batches = 0
    with RowReader(source) as reader:
        rejects = RejectsWriter(source, reader.header, options.rejects_dir)
        try:
            batch: list[ListingSubmitted] = []
            good = 0
            for row in reader:
                summary.rows += 1
                if row.offer is None:
                    _reject(summary, rejects, row)
                else:
                    event = _event(row, run_key)
                    batch.append(event)
                    if options.keep:
                        options.keep(row, event)
                    good += 1
                if len(batch) >= options.chunk or (options.limit is not None and good >= options.limit):
                    await _flush(sink, batch, summary)
                    batch, batches = [], batches + 1
                    if options.after_batch:
                        options.after_batch(batches)
                if options.progress and summary.rows % 100 == 0:
                    options.progress(reader.bytes_read, summary)
                if options.limit is not None and good >= options.limit:
                    break
            await _flush(sink, batch, summary)
        finally:
            rejects.close()
        if options.progress:
            options.progress(source.size, summary)
    summary.rejects_file = str(rejects.path) if rejects.count else None
    return summary


def _event(row: Row, run_key: str) -> ListingSubmitted:
    offer = row.offer
    assert offer is not None
    return ListingSubmitted(
        submission_id=row_submission_id(run_key, row.number),
        listing_id=offer.listing_id,
        origin=Origin(),
        timestamps={"submitted": utcnow()},
        title=offer.title,
        description=offer.description,
        image_uri=offer.image_uri,
    )


def _reject(summary: IngestSummary, rejects: RejectsWriter, row: Row) -> None:
    summary.rejected += 1
    rejects.write(row)
    if len(summary.first_rejects) < KEPT_REJECTS:
        summary.first_rejects.append({"row": row.number, "line": row.line, "reason": row.reason})


async def _flush(sink: Sink, batch: list[ListingSubmitted], summary: IngestSummary) -> None:
    if not batch:
        return
    known = await sink.known([e.submission_id for e in batch])
    fresh = [e for e in batch if e.submission_id not in known]
    await sink.submit(fresh)
    summary.published += len(fresh)
    summary.already_submitted += len(batch) - len(fresh)


async def ingest_to_pipeline(settings: Settings, source: Source, options: IngestOptions) -> IngestSummary:
    """``ingest_file`` into SQL and Redis (the schema migrated first)."""
    await asyncio.to_thread(migrate, settings.effective_database_url)
    async with EventPublisher(settings) as publisher:
        return await ingest_file(source, PipelineSink(settings, publisher), options)
