"""Listing content written by ingestion, and the SQL helpers every writer shares.

Listings are keyed by ``listing_id`` (upsert), so a re-submitted offer refreshes its content.
SQLite drops time zones, so every timestamp is converted to UTC before it is written and read
back with :func:`as_utc`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared.contract import ListingSubmitted, utcnow
from shared.db.models import Listing


def as_utc(value: datetime | None) -> datetime | None:
    """``value`` as an aware UTC datetime (naive values are UTC, as SQLite returns them)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_utc(value: datetime) -> datetime:
    converted = as_utc(value)
    assert converted is not None
    return converted


def dialect_insert(session: Session, table: Table | type[Any]) -> Insert:
    """An ``INSERT`` that supports ``on_conflict_*`` on the session's dialect."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"Unsupported database dialect {name!r}: use PostgreSQL or SQLite")


def insert_new_submissions(
    session: Session, model: type[Any], rows: list[dict[str, Any]], rows_per_statement: int
) -> set[uuid.UUID]:
    """Insert the rows whose ``submission_id`` is not in ``model``'s table yet, ``rows_per_statement``
    at a time (bound parameters per statement); the ids inserted."""
    inserted: set[uuid.UUID] = set()
    for start in range(0, len(rows), rows_per_statement):
        stmt = (
            dialect_insert(session, model)
            .values(rows[start : start + rows_per_statement])
            .on_conflict_do_nothing(index_elements=["submission_id"])  # type: ignore[attr-defined]
            .returning(model.submission_id)
        )
        inserted.update(row[0] for row in session.execute(stmt))
    return inserted


def upsert_listings(session: Session, offers: Sequence[ListingSubmitted], now: datetime | None = None) -> int:
    """Store (or refresh) each offer's content so a bulk job can re-publish it later.

    Only content columns change on conflict: the current category belongs to the writer.
    Returns the number of offers written (the last one wins when an id repeats).
    """
    if not offers:
        return 0
    at = to_utc(now or utcnow())
    latest: dict[str, ListingSubmitted] = {offer.listing_id: offer for offer in offers}
    rows = [
        {
            "listing_id": offer.listing_id,
            "title": offer.title,
            "description": offer.description,
            "image_uri": offer.image_uri,
            "created_at": at,
            "updated_at": at,
        }
        for offer in latest.values()
    ]
    stmt = dialect_insert(session, Listing)
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["listing_id"],
        set_={
            "title": stmt.excluded.title,  # type: ignore[attr-defined]
            "description": stmt.excluded.description,  # type: ignore[attr-defined]
            "image_uri": stmt.excluded.image_uri,  # type: ignore[attr-defined]
            "updated_at": stmt.excluded.updated_at,  # type: ignore[attr-defined]
        },
    )
    session.execute(stmt, rows)
    return len(rows)
