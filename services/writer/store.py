"""Idempotent writes of predictions (the results-writer); the dashboards' per-minute sums of
the same batch are ``rollups.py``'s.

Every write is keyed so that redelivery is harmless: predictions by ``submission_id``
(``INSERT ... ON CONFLICT DO NOTHING``). The same statements run on PostgreSQL and SQLite
(both dialects implement ``ON CONFLICT``); timestamps are UTC (see :func:`shared.db.listings.as_utc`).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Insert, and_, or_, update
from sqlalchemy.orm import Session

from shared.contract import ListingClassified, utcnow
from shared.db.listings import insert_for, insert_new_rows, table_of, to_utc
from shared.db.models import Category, Listing, Prediction, ReclassificationJob
from shared.db.submissions import ledger_entries

from .agreement import add_to_drift, add_to_shadow_pairs, add_to_version_pairs, lock_listings, stored_latest
from .rollups import add_to_counts, add_to_minutes, classified_at_of


@dataclass
class WriteResult:
    """What one batch changed: new predictions, duplicates skipped, job progress."""

    inserted: int = 0
    duplicates: int = 0
    listings_updated: int = 0
    jobs_completed: dict[uuid.UUID, int] = field(default_factory=dict)


def submitted_at_of(event: ListingClassified, default: datetime) -> datetime:
    """When the offer was submitted (its classification time when the stamp is missing)."""
    submitted = event.timestamps.get("submitted")
    return to_utc(submitted) if submitted else classified_at_of(event, default)


def recency(event: ListingClassified, default: datetime) -> tuple[datetime, datetime, str]:
    """Which prediction a listing shows: the newest submission; then the latest classified."""
    return submitted_at_of(event, default), classified_at_of(event, default), str(event.submission_id)


def prediction_row(event: ListingClassified, written_at: datetime) -> dict[str, Any]:
    """The ``predictions`` row of one classified event."""
    submitted = event.timestamps.get("submitted")
    return {
        "submission_id": event.submission_id,
        "listing_id": event.listing_id,
        "origin": event.origin.kind,
        "job_id": event.origin.job_id,
        "prdtypecode": event.prdtypecode,
        "confidence": event.confidence,
        "top_k": [score.model_dump() for score in event.top_k],
        "modalities": ",".join(event.modalities),
        "model_version": event.model_version,
        "model_versions": dict(event.model_versions),
        "language": event.language,
        "translation_status": event.translation_status,
        "image_missing_reason": event.image_missing_reason,
        "degraded": event.degraded,
        "submitted_at": to_utc(submitted) if submitted else None,
        "classified_at": classified_at_of(event, written_at),
        "written_at": written_at,
        "stage_timestamps": {k: to_utc(v).isoformat() for k, v in event.timestamps.items()},
        "shadow": event.shadow,
        "shadow_of": event.shadow_of,
        "decision": event.decision,
    }


def newest_per_listing(
    events: Iterable[ListingClassified], default: datetime, sequence: Mapping[uuid.UUID, int] | None = None
) -> list[ListingClassified]:
    """One event per listing, the newest submission: the latest in the ledger's order
    (``sequence``), then (events the ledger does not number) by :func:`recency`.

    PostgreSQL refuses an upsert that touches one row twice, and only the newest matters.
    """
    seqs = sequence or {}

    def key(event: ListingClassified) -> tuple[bool, int, tuple[datetime, datetime, str]]:
        seq = seqs.get(event.submission_id)
        return seq is not None, seq or 0, recency(event, default)

    best: dict[str, ListingClassified] = {}
    for event in events:
        current = best.get(event.listing_id)
        if current is None or key(event) > key(current):
            best[event.listing_id] = event
    return list(best.values())


def ensure_categories(session: Session, events: Iterable[ListingClassified]) -> None:
    """Add codes a model knows but the table lacks (labels come from the model's manifest)."""
    labels = {event.prdtypecode: event.label for event in events}
    if not labels:
        return
    rows = [{"prdtypecode": code, "label": label} for code, label in labels.items()]
    session.execute(_categories_insert(session.get_bind().dialect.name), rows)


@cache
def _categories_insert(dialect: str) -> Insert:
    """The insert of unknown categories, built once per dialect (issue 27)."""
    stmt = insert_for(dialect, table_of(Category))
    return stmt.on_conflict_do_nothing(index_elements=["prdtypecode"])  # type: ignore[attr-defined,no-any-return]


_ROWS_PER_STATEMENT = 500
"""Rows per INSERT: 21 columns (``prediction_row``) x 500 = 10,500 bound parameters, well under
SQLite's 32,766 and PostgreSQL's 65,535 (a test checks the bound)."""


def write_predictions(
    session: Session,
    events: Sequence[ListingClassified],
    now: datetime | None = None,
    sequence: Mapping[uuid.UUID, int] | None = None,
) -> WriteResult:
    """Store a batch of predictions idempotently, in the caller's transaction.

    1. insert predictions, skipping submission ids already stored;
    2. for the new live ones, move each listing's current category forward if the prediction's
       *submission* entered the ledger after the current one's (``sequence``: submission id ->
       ``submissions.seq``, looked up when not given; an older submission classified late, slow
       or retried, only joins the history); a shadow candidate's prediction never moves a
       listing (nor the throughput sums, nor job progress): it is only stored for comparison;
    3. add the new reclassify predictions to their job's ``completed`` counter.

    The dashboards' rollups of the new predictions (per-category counts, version and shadow
    agreement pairs, drift signals, per-minute sums) are added in the same transaction.
    """
    result = WriteResult()
    if not events:
        return result
    written_at = to_utc(now or utcnow())
    unique = {event.submission_id: event for event in events}
    ensure_categories(session, unique.values())
    rows = [prediction_row(event, written_at) for event in unique.values()]
    listing_ids = [event.listing_id for event in unique.values()]
    lock_listings(session, listing_ids)  # the agreement rollups read the listings' history
    before = stored_latest(session, listing_ids)
    inserted_ids = insert_new_rows(session, Prediction, rows, _ROWS_PER_STATEMENT, also="id")
    inserted = [unique[sid] for sid in inserted_ids]
    result.inserted = len(inserted)
    result.duplicates = len(events) - len(inserted)
    add_to_counts(session, inserted, written_at)  # per-category counts, shadow ones included
    add_to_version_pairs(session, before, [(int(inserted_ids[e.submission_id]), e) for e in inserted])
    add_to_shadow_pairs(session, inserted)
    add_to_drift(session, inserted, written_at)
    inserted = [event for event in inserted if not event.shadow]
    if not inserted:
        return result
    if sequence is None:
        entries = ledger_entries(session, (e.submission_id for e in inserted))
        sequence = {sid: entry.seq for sid, entry in entries.items() if entry.seq is not None}
    newest = newest_per_listing(inserted, written_at, sequence)
    result.listings_updated = _advance_listings(session, newest, written_at, sequence)
    add_to_minutes(session, inserted, written_at)
    jobs = Counter(e.origin.job_id for e in inserted if e.origin.kind == "reclassify" and e.origin.job_id)
    for job_id, count in sorted(jobs.items(), key=lambda item: str(item[0])):
        session.execute(
            update(ReclassificationJob)
            .where(ReclassificationJob.id == job_id)
            .values(completed=ReclassificationJob.completed + count, updated_at=written_at)
        )
        result.jobs_completed[job_id] = count
    return result


def _advance_listings(
    session: Session,
    events: Sequence[ListingClassified],
    written_at: datetime,
    sequence: Mapping[uuid.UUID, int],
) -> int:
    """Upsert each listing's current category, guarded by the ledger's order (later wins).

    A submission the ledger numbers replaces a current one it does not (recorded before the
    sequence existed); only events without a number (written by trusted tools, never by the
    writer worker, which refuses unrecorded submissions) fall back to the submission time.
    """
    rows = [
        {
            "listing_id": event.listing_id,
            "title": "",
            "description": None,
            "image_uri": None,
            "created_at": written_at,
            "updated_at": written_at,
            "current_submission_id": event.submission_id,
            "current_prdtypecode": event.prdtypecode,
            "current_confidence": event.confidence,
            "current_model_version": event.model_version,
            "classified_at": classified_at_of(event, written_at),
            "current_submitted_at": submitted_at_of(event, written_at),
            "current_seq": sequence.get(event.submission_id),
        }
        for event in sorted(events, key=lambda e: e.listing_id)  # stable lock order
    ]
    session.execute(_listing_upsert(session.get_bind().dialect.name), rows)
    return len(rows)


@cache
def _listing_upsert(dialect: str) -> Insert:
    """The guarded upsert of current categories, built once per dialect (issue 27: building it
    cost about what running it did for a batch), on the table so the ORM's bulk path stays out."""
    table = table_of(Listing)
    stmt = insert_for(dialect, table)
    excluded, current = stmt.excluded, table.c  # type: ignore[attr-defined]
    return stmt.on_conflict_do_update(  # type: ignore[attr-defined,no-any-return]
        index_elements=["listing_id"],
        set_={
            "current_submission_id": excluded.current_submission_id,
            "current_prdtypecode": excluded.current_prdtypecode,
            "current_confidence": excluded.current_confidence,
            "current_model_version": excluded.current_model_version,
            "classified_at": excluded.classified_at,
            "current_submitted_at": excluded.current_submitted_at,
            "current_seq": excluded.current_seq,
        },
        where=or_(
            current.current_submitted_at.is_(None),
            and_(
                excluded.current_seq.is_not(None),
                or_(current.current_seq.is_(None), current.current_seq < excluded.current_seq),
            ),
            and_(
                excluded.current_seq.is_(None),
                or_(
                    current.current_submitted_at < excluded.current_submitted_at,
                    and_(
                        current.current_submitted_at == excluded.current_submitted_at,
                        current.classified_at < excluded.classified_at,
                    ),
                ),
            ),
        ),
    )
