"""Per-minute sums of the predictions written, for the throughput and lag dashboards.

Written by the results-writer in the same transaction as the predictions (``store.py``), for the
new live predictions only, so a redelivered batch adds nothing twice. Additive columns (counts
and sums per stage) make one upsert per (minute, origin, model version) enough.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Insert, func
from sqlalchemy.orm import Session

from shared.contract import ListingClassified
from shared.db.listings import insert_for, table_of, to_utc
from shared.db.models import COUNT_SPANS, PredictionCount, PredictionMinute, count_bucket


def classified_at_of(event: ListingClassified, default: datetime) -> datetime:
    """When the event was classified (``default`` when unstamped): its minute bucket."""
    return to_utc(event.timestamps.get("classified") or default)


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


def add_to_minutes(session: Session, events: Sequence[ListingClassified], written_at: datetime) -> None:
    """Add ``events`` to their minutes' sums, in the caller's transaction."""
    rows = minute_rows(events, written_at)
    stmt = _minutes_upsert(session.get_bind().dialect.name)
    session.execute(stmt, sorted(rows, key=lambda r: (r["bucket_start"], r["origin"], r["model_version"])))


@cache
def _minutes_upsert(dialect: str) -> Insert:
    """The upsert of minute rows, built once per dialect (building it cost more than running
    it for a small batch: issue 27), on the table so the ORM's bulk path stays out."""
    table = table_of(PredictionMinute)
    stmt = insert_for(dialect, table)
    excluded, columns = stmt.excluded, table.c  # type: ignore[attr-defined]
    additive = ["count", *(f"{n}_{x}" for n in _SUMMED for x in ("n", "sum")), "writer_sum"]
    top = func.greatest if dialect == "postgresql" else func.max
    updates: dict[str, Any] = {c: columns[c] + excluded[c] for c in additive}
    updates["latency_max"] = top(
        func.coalesce(columns.latency_max, excluded.latency_max),
        func.coalesce(excluded.latency_max, columns.latency_max),
    )
    return stmt.on_conflict_do_update(  # type: ignore[attr-defined,no-any-return]
        index_elements=["bucket_start", "origin", "model_version"], set_=updates
    )


COUNT_KEYS = ("span_s", "bucket_start", "origin", "model_version", "shadow", "decision", "prdtypecode")
"""``prediction_counts``' primary key."""


def count_rows(events: Sequence[ListingClassified], written_at: datetime) -> list[dict[str, Any]]:
    """What each ``prediction_counts`` key gains from ``events`` (every span), in key order."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for event in events:
        at = classified_at_of(event, written_at)
        for span in COUNT_SPANS:
            key = (span, count_bucket(at, span), event.origin.kind, event.model_version, bool(event.shadow),
                   event.decision or "", event.prdtypecode)  # fmt: skip
            row = rows.get(key)
            if row is None:
                row = rows[key] = dict[str, Any](zip(COUNT_KEYS, key, strict=True))
                row |= {"count": 0, "confidence_sum": 0.0, "first_at": at, "last_at": at}
            row["count"] += 1
            row["confidence_sum"] += event.confidence
            row["first_at"], row["last_at"] = min(row["first_at"], at), max(row["last_at"], at)
    return [rows[key] for key in sorted(rows, key=str)]  # one lock order for concurrent writers


def add_to_counts(session: Session, events: Sequence[ListingClassified], written_at: datetime) -> None:
    """Add ``events`` (shadow ones included) to ``prediction_counts``, in the caller's transaction."""
    if not events:
        return
    session.execute(_counts_upsert(session.get_bind().dialect.name), count_rows(events, written_at))


@cache
def _counts_upsert(dialect: str) -> Insert:
    """The upsert of count rows, built once per dialect and on the table (issue 27: built per batch
    on the ORM class, it went through the ORM's bulk path, as the minute sums once did)."""
    table = table_of(PredictionCount)
    stmt = insert_for(dialect, table)
    excluded, columns = stmt.excluded, table.c  # type: ignore[attr-defined]
    low, high = (func.least, func.greatest) if dialect == "postgresql" else (func.min, func.max)
    return stmt.on_conflict_do_update(  # type: ignore[attr-defined,no-any-return]
        index_elements=list(COUNT_KEYS),
        set_={
            "count": columns["count"] + excluded["count"],
            "confidence_sum": columns.confidence_sum + excluded.confidence_sum,
            "first_at": low(columns.first_at, excluded.first_at),
            "last_at": high(columns.last_at, excluded.last_at),
        },
    )
