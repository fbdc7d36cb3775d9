"""Idempotent writes of predictions (the results-writer).

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
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlalchemy.orm import Session

from shared.contract import ListingClassified, utcnow
from shared.db.listings import dialect_insert, to_utc
from shared.db.models import Category, Listing, Prediction, PredictionMinute, ReclassificationJob
from shared.db.submissions import ledger_entries

# --- predictions: the results-writer --------------------------------------------------------


@dataclass
class WriteResult:
    """What one batch changed: new predictions, duplicates skipped, job progress."""

    inserted: int = 0
    duplicates: int = 0
    listings_updated: int = 0
    jobs_completed: dict[uuid.UUID, int] = field(default_factory=dict)


def classified_at_of(event: ListingClassified, default: datetime) -> datetime:
    return to_utc(event.timestamps.get("classified") or default)


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
    stmt = dialect_insert(session, Category).on_conflict_do_nothing(  # type: ignore[attr-defined]
        index_elements=["prdtypecode"]
    )
    session.execute(stmt, [{"prdtypecode": code, "label": label} for code, label in labels.items()])


_ROWS_PER_STATEMENT = 500  # 18 columns: well under SQLite's 32,766 and PostgreSQL's 65,535


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
    """
    result = WriteResult()
    if not events:
        return result
    written_at = to_utc(now or utcnow())
    unique = {event.submission_id: event for event in events}
    ensure_categories(session, unique.values())
    rows = [prediction_row(event, written_at) for event in unique.values()]
    inserted_ids: set[uuid.UUID] = set()
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):  # bound parameters per statement
        stmt = (
            dialect_insert(session, Prediction)
            .values(rows[start : start + _ROWS_PER_STATEMENT])
            .on_conflict_do_nothing(index_elements=["submission_id"])  # type: ignore[attr-defined]
            .returning(Prediction.submission_id)
        )
        inserted_ids.update(row[0] for row in session.execute(stmt))
    inserted = [unique[sid] for sid in inserted_ids]
    result.inserted = len(inserted)
    result.duplicates = len(events) - len(inserted)
    inserted = [event for event in inserted if not event.shadow]
    if not inserted:
        return result
    if sequence is None:
        entries = ledger_entries(session, (e.submission_id for e in inserted))
        sequence = {sid: entry.seq for sid, entry in entries.items() if entry.seq is not None}
    newest = newest_per_listing(inserted, written_at, sequence)
    result.listings_updated = _advance_listings(session, newest, written_at, sequence)
    _add_to_minutes(session, inserted, written_at)
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
    stmt = dialect_insert(session, Listing)
    excluded = stmt.excluded  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
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
            Listing.current_submitted_at.is_(None),
            and_(
                excluded.current_seq.is_not(None),
                or_(Listing.current_seq.is_(None), Listing.current_seq < excluded.current_seq),
            ),
            and_(
                excluded.current_seq.is_(None),
                or_(
                    Listing.current_submitted_at < excluded.current_submitted_at,
                    and_(
                        Listing.current_submitted_at == excluded.current_submitted_at,
                        Listing.classified_at < excluded.classified_at,
                    ),
                ),
            ),
        ),
    )
    session.execute(stmt, rows)
    return len(rows)


# --- per-minute sums for the throughput and lag dashboards ------------------------------------

_STAGE_SPANS: dict[str, tuple[str, str]] = {
    "language": ("submitted", "prepared"),
    "text": ("prepared", "text_encoded"),
    "image": ("submitted", "image_encoded"),
}

_SUMMED = ("latency", "language", "text", "image", "fusion")


def stage_spans(event: ListingClassified, written_at: datetime) -> dict[str, float | None]:
    """Seconds spent per stage of one prediction (None when a stage was not stamped)."""
    ts = {k: to_utc(v) for k, v in event.timestamps.items()}
    classified = classified_at_of(event, written_at)

    def span(start: datetime | None, end: datetime | None) -> float | None:
        return (end - start).total_seconds() if start and end else None

    spans = {name: span(ts.get(a), ts.get(b)) for name, (a, b) in _STAGE_SPANS.items()}
    halves = [ts[k] for k in ("text_encoded", "image_encoded") if k in ts]
    spans["fusion"] = span(max(halves), classified) if halves else None
    spans["latency"] = span(ts.get("submitted"), classified)
    spans["writer"] = span(classified, written_at)
    return spans


def minute_rows(events: Sequence[ListingClassified], written_at: datetime) -> list[dict[str, Any]]:
    """The sums each (minute, origin, model version) gains from ``events``."""
    rows: dict[tuple[datetime, str, str], dict[str, Any]] = {}
    for event in events:
        minute = classified_at_of(event, written_at).replace(second=0, microsecond=0)
        key = (minute, event.origin.kind, event.model_version)
        empty: dict[str, Any] = {f"{n}_{x}": 0 for n in _SUMMED for x in ("n", "sum")}
        empty.update(bucket_start=minute, origin=key[1], model_version=key[2], count=0)
        row = rows.setdefault(key, empty | {"latency_max": None, "writer_sum": 0.0})
        spans = stage_spans(event, written_at)
        row["count"] += 1
        row["writer_sum"] += spans["writer"] or 0.0
        for name in _SUMMED:
            value = spans[name]
            if value is not None:
                row[f"{name}_n"] += 1
                row[f"{name}_sum"] += value
        if spans["latency"] is not None:
            row["latency_max"] = max(row["latency_max"] or spans["latency"], spans["latency"])
    return list(rows.values())


def _add_to_minutes(session: Session, events: Sequence[ListingClassified], written_at: datetime) -> None:
    rows = minute_rows(events, written_at)
    stmt = dialect_insert(session, PredictionMinute)
    excluded, table = stmt.excluded, PredictionMinute.__table__.c  # type: ignore[attr-defined]
    additive = [c for c in rows[0] if c.endswith(("_n", "_sum")) or c == "count"]
    top = func.greatest if session.get_bind().dialect.name == "postgresql" else func.max
    updates: dict[str, Any] = {c: table[c] + excluded[c] for c in additive}
    updates["latency_max"] = top(
        func.coalesce(table.latency_max, excluded.latency_max),
        func.coalesce(excluded.latency_max, table.latency_max),
    )
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["bucket_start", "origin", "model_version"], set_=updates
    )
    session.execute(stmt, sorted(rows, key=lambda r: (r["bucket_start"], r["origin"], r["model_version"])))
