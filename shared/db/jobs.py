"""Reclassification jobs in SQL: creation, keyset pages, the persisted cursor, cancel.

A job re-publishes stored listings in ``listing_id`` order. After each page is published, the
job's ``cursor`` (last listing id) and ``published`` counter are committed together, so a job
that dies resumes after its last committed page: at most one page is published twice, and that
is harmless because a listing's submission id within a job is deterministic
(:func:`submission_id_for`) and every side effect downstream is idempotent by submission id.

The results-writer adds to ``completed``; ``published - completed`` is what is in flight.

A job is run by one process at a time, recorded in ``runner`` with a ``heartbeat_at`` it
refreshes (a lease): :func:`claim_next` gives a reclassify worker a pending job, or a running
one whose runner stopped beating (it died), so no operator has to resume it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session

from shared.contract import ListingSubmitted, Origin, utcnow
from shared.db.listings import as_utc
from shared.db.models import Listing, ReclassificationJob

# Job states: running (being published or drained), completed, cancelled, failed.
ACTIVE = ("pending", "running")
TERMINAL = ("completed", "cancelled", "failed")
_NAMESPACE = uuid.UUID("7d4a2b8e-3f61-4c0a-9b7e-5a1c2d3e4f50")


class JobNotFound(LookupError):
    pass


@dataclass(frozen=True)
class JobFilter:
    """Which listings a job re-runs (every condition optional)."""

    category: int | None = None
    since: datetime | None = None
    model_version: str | None = None
    created_until: datetime | None = None
    """Only listings that existed then (a job's own creation time: listings created while it
    runs are not its work, and would have pushed its progress past 100 %)."""


def submission_id_for(job_id: uuid.UUID, listing_id: str) -> uuid.UUID:
    """The same listing in the same job always gets the same submission id."""
    return uuid.uuid5(_NAMESPACE, f"{job_id}:{listing_id}")


def _filtered(query: Select[Any], flt: JobFilter) -> Select[Any]:
    if flt.category is not None:
        query = query.where(Listing.current_prdtypecode == flt.category)
    if flt.since is not None:
        query = query.where(Listing.updated_at >= as_utc(flt.since))
    if flt.model_version is not None:
        query = query.where(Listing.current_model_version == flt.model_version)
    if flt.created_until is not None:
        query = query.where(Listing.created_at <= as_utc(flt.created_until))
    return query


def job_filter(job: ReclassificationJob) -> JobFilter:
    return JobFilter(
        category=job.category,
        since=job.since,
        model_version=job.only_model_version,
        created_until=job.created_at,
    )


def create_job(
    session: Session,
    flt: JobFilter,
    max_in_flight: int,
    *,
    job_id: uuid.UUID | None = None,
    status: str = "pending",
    total: int | None = None,
    page_size: int | None = None,
    runner: str | None = None,
) -> ReclassificationJob:
    """A new job; ``total`` is the number of listings matching the filter now (the job pages
    through listings created until now only, see :class:`JobFilter`)."""
    now = utcnow()
    if total is None:
        counted = replace(flt, created_until=now)
        total = int(session.scalar(_filtered(select(func.count()).select_from(Listing), counted)) or 0)
    job = ReclassificationJob(
        id=job_id or uuid.uuid4(),
        status=status,
        category=flt.category,
        since=as_utc(flt.since),
        only_model_version=flt.model_version,
        max_in_flight=max_in_flight,
        total=total,
        published=0,
        completed=0,
        cursor=None,
        error=None,
        created_at=now,
        updated_at=now,
        finished_at=None,
        page_size=page_size,
        runner=runner,
        heartbeat_at=now if runner else None,
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: uuid.UUID) -> ReclassificationJob:
    job = session.get(ReclassificationJob, job_id, populate_existing=True)
    if job is None:
        raise JobNotFound(f"No reclassification job {job_id}")
    return job


def list_jobs(session: Session, limit: int = 50) -> list[ReclassificationJob]:
    query = select(ReclassificationJob).order_by(ReclassificationJob.created_at.desc()).limit(limit)
    return list(session.scalars(query))


def next_page(session: Session, job: ReclassificationJob, size: int) -> list[ListingSubmitted]:
    """The next ``size`` listings after the job's cursor, as events carrying the job id, on the
    bulk lane (live offers never queue behind them)."""
    query = _filtered(select(Listing), job_filter(job)).order_by(Listing.listing_id).limit(size)
    if job.cursor is not None:
        query = query.where(Listing.listing_id > job.cursor)
    origin = Origin(kind="reclassify", job_id=job.id)
    events = []
    for listing in session.scalars(query):
        event = ListingSubmitted.new(
            listing.listing_id,
            title=listing.title or "",
            description=listing.description,
            image_uri=listing.image_uri,
            origin=origin,
            lane="bulk",
        )
        events.append(
            event.model_copy(update={"submission_id": submission_id_for(job.id, listing.listing_id)})
        )
    return events


def record_page(session: Session, job_id: uuid.UUID, after: str | None, cursor: str, count: int) -> bool:
    """Persist the cursor after publishing ``count`` listings read after the cursor ``after``.

    False if the job is no longer running, or if another runner of the same job moved the
    cursor meanwhile: that page was then a harmless duplicate publish (same submission ids)
    and is not counted twice.
    """
    moved_from = (
        ReclassificationJob.cursor.is_(None) if after is None else ReclassificationJob.cursor == after
    )
    query = update(ReclassificationJob).where(
        ReclassificationJob.id == job_id, ReclassificationJob.status == "running", moved_from
    )
    result = session.execute(
        query.values(
            cursor=cursor,
            published=ReclassificationJob.published + count,
            updated_at=utcnow(),
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def set_status(
    session: Session,
    job_id: uuid.UUID,
    status: str,
    *,
    error: str | None = None,
    only_from: tuple[str, ...] = ACTIVE,
) -> bool:
    """Move a job to ``status`` if it is in one of ``only_from``; True if it moved."""
    now = utcnow()
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status == "completed":  # every page is out: what was published is the job's exact size
        values["total"] = ReclassificationJob.published
    if status in TERMINAL:
        values["finished_at"] = now
    if error is not None:
        values["error"] = error
    result = session.execute(
        update(ReclassificationJob)
        .where(ReclassificationJob.id == job_id, ReclassificationJob.status.in_(only_from))
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def claim(session: Session, job_id: uuid.UUID, runner: str) -> bool:
    """Take ``job_id`` for ``runner`` whatever its lease (an operator's explicit resume, or the
    runner that :func:`claim_next` chose); False when it is finished or cancelled."""
    now = utcnow()
    result = session.execute(
        update(ReclassificationJob)
        .where(ReclassificationJob.id == job_id, ReclassificationJob.status.in_((*ACTIVE, "failed")))
        .values(status="running", runner=runner, heartbeat_at=now, updated_at=now, error=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def claim_next(session: Session, runner: str, lease_s: float) -> uuid.UUID | None:
    """The oldest runnable job, taken for ``runner``: pending, or running with a heartbeat older
    than ``lease_s`` (its runner died). The conditional update makes two workers racing for one
    job safe: only one of them moves the row."""
    now = utcnow()
    stale = now - timedelta(seconds=lease_s)
    runnable = or_(
        ReclassificationJob.status == "pending",
        (ReclassificationJob.status == "running")
        & (ReclassificationJob.heartbeat_at.is_(None) | (ReclassificationJob.heartbeat_at < stale)),
    )
    candidates = session.scalars(
        select(ReclassificationJob.id).where(runnable).order_by(ReclassificationJob.created_at).limit(5)
    )
    for job_id in list(candidates):
        result = session.execute(
            update(ReclassificationJob)
            .where(ReclassificationJob.id == job_id, runnable)
            .values(status="running", runner=runner, heartbeat_at=now, updated_at=now)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            return job_id
    return None


def heartbeat(session: Session, job_id: uuid.UUID, runner: str) -> bool:
    """Refresh ``runner``'s lease; False when the job stopped running or another runner took it."""
    result = session.execute(
        update(ReclassificationJob)
        .where(
            ReclassificationJob.id == job_id,
            ReclassificationJob.status == "running",
            ReclassificationJob.runner == runner,
        )
        .values(heartbeat_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def cancel_job(session: Session, job_id: uuid.UUID) -> ReclassificationJob:
    """Cancel an active job (its runner stops before its next page); terminal jobs stay."""
    get_job(session, job_id)
    set_status(session, job_id, "cancelled", only_from=ACTIVE)
    return get_job(session, job_id)


def job_view(job: ReclassificationJob) -> dict[str, Any]:
    """A job as the API and CLI show it."""
    in_flight = max(0, job.published - job.completed)
    # A listing whose category or model changed during the run may enter a filtered job after
    # its count: the total is never less than what was published.
    total = max(job.total, job.published)
    return {
        "job_id": str(job.id),
        "status": job.status,
        "filter": {
            "category": job.category,
            "since": as_utc(job.since).isoformat() if job.since else None,  # type: ignore[union-attr]
            "model_version": job.only_model_version,
        },
        "max_in_flight": job.max_in_flight,
        "total": total,
        "published": job.published,
        "completed": job.completed,
        "in_flight": in_flight,
        # min: a page's completions may be counted a moment before the page itself
        "progress": round(min(1.0, job.completed / total), 4) if total else 1.0,
        "cursor": job.cursor,
        "error": job.error,
        "page_size": job.page_size,
        "runner": job.runner,
        "heartbeat_at": as_utc(job.heartbeat_at).isoformat() if job.heartbeat_at else None,  # type: ignore[union-attr]
        "created_at": as_utc(job.created_at).isoformat(),  # type: ignore[union-attr]
        "updated_at": as_utc(job.updated_at).isoformat(),  # type: ignore[union-attr]
        "finished_at": as_utc(job.finished_at).isoformat() if job.finished_at else None,  # type: ignore[union-attr]
    }
