"""The submissions ledger (docs/reliability.md, "Reconciliation").

Every publisher (the API, ``catalog ingest``, reclassification jobs) records a submission in
SQL *before* publishing it, so the store knows every submission even when Redis loses its
data. The reconciler closes those that got a prediction or a dead letter and re-publishes, with
the same ``submission_id``, those still open after a deadline: downstream effects are
idempotent by that id, so a re-publication never stores a second prediction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Exists, and_, exists, func, select, text, update
from sqlalchemy.orm import Session

from shared.contract import ListingSubmitted, Origin, utcnow
from shared.db.listings import as_utc, insert_new_submissions, to_utc, upsert_listings
from shared.db.models import Listing, Prediction, Submission

_ROWS_PER_STATEMENT = 1000  # 7 columns: well under SQLite's and PostgreSQL's parameter limits


def _ledger_rows(events: Sequence[ListingSubmitted]) -> list[dict[str, object]]:
    now = to_utc(utcnow())
    return [
        {
            "submission_id": event.submission_id,
            "listing_id": event.listing_id,
            "origin": event.origin.kind,
            "job_id": event.origin.job_id,
            "submitted_at": to_utc(event.timestamps.get("submitted") or now),
            "published_at": now,
            "republished": 0,
        }
        for event in {e.submission_id: e for e in events}.values()
    ]


def _insert_new(session: Session, rows: list[dict[str, object]]) -> set[uuid.UUID]:
    """Insert the rows whose id is not recorded yet; the ids inserted. ``seq`` comes from the
    store: PostgreSQL's ``submission_seq``, SQLite's ``rowid`` (set in the same transaction)."""
    inserted = insert_new_submissions(session, Submission, rows, _ROWS_PER_STATEMENT)
    if inserted and session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE submissions SET seq = rowid WHERE seq IS NULL"))
    return inserted


def record_submissions(session: Session, events: Sequence[ListingSubmitted]) -> int:
    """Record each event as published now (in the caller's transaction); ids already recorded
    (a re-published reclassification page) are left as they are."""
    if not events:
        return 0
    rows = _ledger_rows(events)
    _insert_new(session, rows)
    return len(rows)


def record_on_entry(session: Session, events: Sequence[ListingSubmitted]) -> list[ListingSubmitted]:
    """Record the submissions the ledger does not hold yet (published straight to
    ``listings.submitted``) with their listing's content, so that the writer knows them and the
    reconciler can re-publish them; the events newly recorded (the others are left as they are)."""
    if not events:
        return []
    inserted = _insert_new(session, _ledger_rows(events))
    fresh = [event for event in events if event.submission_id in inserted]
    upsert_listings(session, fresh)
    return fresh


@dataclass(frozen=True)
class LedgerEntry:
    """What the ledger says of a submission: its listing and the order it entered (``seq``)."""

    listing_id: str
    seq: int | None


def ledger_entries(session: Session, submission_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, LedgerEntry]:
    """The ledger rows of ``submission_ids`` (absent ids were never recorded)."""
    ids = sorted(set(submission_ids), key=str)
    found: dict[uuid.UUID, LedgerEntry] = {}
    for start in range(0, len(ids), _ROWS_PER_STATEMENT):
        query = select(Submission.submission_id, Submission.listing_id, Submission.seq).where(
            Submission.submission_id.in_(ids[start : start + _ROWS_PER_STATEMENT])
        )
        for submission_id, listing_id, seq in session.execute(query):
            found[submission_id] = LedgerEntry(listing_id, seq)
    return found


def _predicted() -> Exists:
    return exists().where(Prediction.submission_id == Submission.submission_id)


def close_predicted(session: Session) -> int:
    """Close every open submission that has a prediction; the number closed."""
    result = session.execute(
        update(Submission)
        .where(Submission.closed_at.is_(None), _predicted())
        .values(closed_at=to_utc(utcnow()), outcome="predicted"),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def close_dead(session: Session, reasons: dict[uuid.UUID, str]) -> int:
    """Close the submissions named by dead letters (``reasons``: id -> the letter's reason).

    A submission that already has a prediction stays ``predicted``: another copy of it was
    dead-lettered (a duplicate half, say), the offer itself was classified.
    """
    closed = 0
    now = to_utc(utcnow())
    for submission_id, reason in sorted(reasons.items(), key=lambda item: str(item[0])):
        result = session.execute(
            update(Submission)
            .where(Submission.submission_id == submission_id, Submission.closed_at.is_(None), ~_predicted())
            .values(closed_at=now, outcome="dead", dead_reason=reason[:64]),
            execution_options={"synchronize_session": False},
        )
        closed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return closed


def reopen(session: Session, submission_ids: Iterable[uuid.UUID]) -> int:
    """Open dead submissions again (their dead letter was replayed): watched like new ones."""
    ids = list(submission_ids)
    if not ids:
        return 0
    result = session.execute(
        update(Submission)
        .where(Submission.submission_id.in_(ids), Submission.outcome == "dead")
        .values(closed_at=None, outcome=None, dead_reason=None, published_at=to_utc(utcnow())),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _overdue_filter(cutoff: datetime):  # type: ignore[no-untyped-def]
    return and_(Submission.closed_at.is_(None), Submission.published_at < cutoff, ~_predicted())


def count_overdue(session: Session, older_than_s: float, now: datetime | None = None) -> int:
    """Open submissions without a prediction, last published more than ``older_than_s`` ago."""
    at = to_utc(now or utcnow())
    cutoff = at - timedelta(seconds=older_than_s)
    query = select(func.count()).select_from(Submission).where(_overdue_filter(cutoff))
    return int(session.execute(query).scalar_one())


@dataclass(frozen=True)
class Overdue:
    """An overdue submission, ready to re-publish (``event`` is None: its listing is gone)."""

    submission_id: uuid.UUID
    listing_id: str
    event: ListingSubmitted | None
    republished: int = 0


def overdue_submissions(
    session: Session, older_than_s: float, limit: int, now: datetime | None = None
) -> list[Overdue]:
    """The oldest overdue submissions, rebuilt as events with their original id, origin and
    ``submitted`` time; the content is the listing's stored one (its newest). A bulk job's
    submission goes back on the bulk lane (the runner publishes every job offer there)."""
    at = to_utc(now or utcnow())
    cutoff = at - timedelta(seconds=older_than_s)
    query = (
        select(Submission, Listing)
        .join(Listing, Listing.listing_id == Submission.listing_id, isouter=True)
        .where(_overdue_filter(cutoff))
        .order_by(Submission.published_at, Submission.submission_id)
        .limit(limit)
    )
    found: list[Overdue] = []
    for submission, listing in session.execute(query).all():
        event = None
        if listing is not None:
            origin = Origin(kind=submission.origin, job_id=submission.job_id)  # type: ignore[arg-type]
            event = ListingSubmitted(
                submission_id=submission.submission_id,
                listing_id=submission.listing_id,
                origin=origin,
                lane="bulk" if origin.kind == "reclassify" else "live",
                # "republished": the fusion join starts over for it (services/fusion/join.py).
                timestamps={"submitted": as_utc(submission.submitted_at), "republished": at},  # type: ignore[dict-item]
                title=listing.title or "",
                description=listing.description,
                image_uri=listing.image_uri,
            )
        found.append(Overdue(submission.submission_id, submission.listing_id, event, submission.republished))
    return found


def mark_republished(session: Session, overdue: Sequence[Overdue], older_than_s: float) -> None:
    """Count the re-publication and restart the deadline, doubled at each re-publication of the
    same submission (1x, 2x, 4x ... 16x ``older_than_s``): a long outage is not answered by
    re-publishing everything in flight every ``older_than_s``."""
    now = to_utc(utcnow())
    by_count: dict[int, list[uuid.UUID]] = {}
    for item in overdue:
        by_count.setdefault(min(item.republished, 4), []).append(item.submission_id)
    for count, ids in sorted(by_count.items()):
        # published_at is pushed into the future so the one "published_at < cutoff" rule holds
        due_from = now + timedelta(seconds=older_than_s * (2**count - 1))
        for start in range(0, len(ids), _ROWS_PER_STATEMENT):
            session.execute(
                update(Submission)
                .where(Submission.submission_id.in_(ids[start : start + _ROWS_PER_STATEMENT]))
                .values(published_at=due_from, republished=Submission.republished + 1),
                execution_options={"synchronize_session": False},
            )


def close_orphans(session: Session, submission_ids: Sequence[uuid.UUID]) -> None:
    """Close submissions whose listing no longer exists (nothing to re-publish)."""
    if submission_ids:
        session.execute(
            update(Submission)
            .where(Submission.submission_id.in_(list(submission_ids)))
            .values(closed_at=to_utc(utcnow()), outcome="dead", dead_reason="listing_missing"),
            execution_options={"synchronize_session": False},
        )
