"""Read side: dashboard statistics, model versions, reclassification jobs."""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from shared.contract import utcnow
from shared.db.jobs import (
    ACTIVE,
    JobFilter,
    JobNotFound,
    cancel_job,
    create_job,
    get_job,
    job_view,
    list_jobs,
)
from shared.db.models import ReclassificationJob
from shared.lifecycle.state import read_state, statuses
from shared.ml.model_repo import MANIFEST, MANIFESTS_DIR, Manifest
from shared.ml.training_progress import progress_path, read_progress
from shared.taxonomy.store import code_refusal

from . import queries
from .deps import DbSession
from .schemas import MAX_OFFSET, ApiDatetime, ErrorOut, JobIn, JobOut, Text
from .state import State, WriteAccess

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", responses={422: {"model": ErrorOut}})

Since = Annotated[
    ApiDatetime | None, Query(description="Only predictions classified at or after (ISO 8601).")
]
Until = Annotated[ApiDatetime | None, Query(description="Only predictions classified before (ISO 8601).")]
OriginQ = Annotated[Literal["ingest", "reclassify"] | None, Query(description="Live or bulk predictions.")]
VersionQ = Annotated[Text | None, Query(max_length=64, description="Only this model version.")]


@router.get("/stats/distribution", summary="Predictions per category")
def distribution(
    session: DbSession,
    since: Since = None,
    until: Until = None,
    origin: OriginQ = None,
    model_version: VersionQ = None,
    level: Annotated[
        int | None, Query(ge=1, le=20, description="Roll up to this level of the tree (1: departments).")
    ] = None,
    parent: Annotated[int | None, Query(description="Drill down: only codes under this one.")] = None,
) -> dict[str, Any]:
    """Merged codes are counted under their targets (a model trained before a merge still
    predicts the old code); ``level`` and ``parent`` roll up and drill down the tree."""
    flt = queries.PredictionFilter(since=since, until=until, origin=origin, model_version=model_version)
    return queries.category_distribution(session, flt, level=level, parent=parent)


@router.get("/stats/review-queue", summary="Listings whose current prediction needs a person")
def review_queue(
    state: State,
    session: DbSession,
    threshold: Annotated[
        float | None,
        Query(
            ge=0,
            le=1,
            description="For predictions without an auto/review decision (older revisions): "
            "below this confidence they need a review. Default: CATALOG_LOW_CONFIDENCE_THRESHOLD.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    model_version: VersionQ = None,
    after: Annotated[
        Text | None,
        Query(
            pattern=queries.REVIEW_CURSOR_PATTERN,
            description="The previous page's next_after (`confidence|listing_id`), unchanged: the "
            "next page, at any depth.",
        ),
    ] = None,
) -> dict[str, Any]:
    """Predictions decided `review` (and undecided ones below the threshold), the most valuable
    review first: the least confident, i.e. the likeliest errors (see queries.review_queue).
    Page with ``after`` (keyset, constant cost) rather than ``offset``; ``total`` stops
    counting at 1,000 (``total_capped``)."""
    cut = state.settings.low_confidence_threshold if threshold is None else threshold
    try:
        return queries.review_queue(session, cut, limit, offset, model_version, after or None)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get("/stats/throughput", summary="Predictions per time bucket, end-to-end and per-stage lag")
def throughput(
    session: DbSession,
    since: Since = None,
    until: Until = None,
    origin: OriginQ = None,
    model_version: VersionQ = None,
    bucket_s: Annotated[
        int, Query(ge=60, le=86400, description="Bucket width in seconds (whole minutes).")
    ] = 60,
) -> dict[str, Any]:
    start = since or utcnow() - timedelta(hours=1)
    flt = queries.PredictionFilter(since=start, until=until, origin=origin, model_version=model_version)
    return queries.throughput_and_lag(session, flt, bucket_s)


@router.get("/stats/agreement", summary="Agreement between two model versions on the same listings")
def agreement(
    session: DbSession,
    version_a: Annotated[Text, Query(max_length=64, description="The older version.")],
    version_b: Annotated[Text, Query(max_length=64, description="The newer version.")],
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    return queries.version_agreement(session, version_a, version_b, top)


@router.get("/stats/versions", summary="Model versions present in stored predictions")
def versions(session: DbSession) -> list[dict[str, Any]]:
    return queries.model_versions_seen(session)


_ABSOLUTE_PATH = re.compile(r"^(?:/|~|file:|[A-Za-z]:[\\/])")


def without_paths(value: Any) -> Any:
    """``value`` without the absolute file paths a manifest records (training's data_dir...):
    where the server keeps its files is nobody's business over HTTP."""
    if isinstance(value, dict):
        return {k: without_paths(v) for k, v in value.items() if not _is_path(v)}
    if isinstance(value, list):
        return [without_paths(v) for v in value if not _is_path(v)]
    return value


def _is_path(value: Any) -> bool:
    return isinstance(value, str) and _ABSOLUTE_PATH.match(value) is not None


def read_models(repository: Any) -> dict[str, Any]:
    """Every manifest in the model repository (no file paths), the current one marked."""
    current = None
    if (repository / MANIFEST).is_file():
        current = Manifest.model_validate_json((repository / MANIFEST).read_text("utf-8"))
    found: dict[int, Manifest] = {}
    for path in sorted((repository / MANIFESTS_DIR).glob("*.json")):
        try:
            manifest = Manifest.model_validate_json(path.read_text("utf-8"))
        except ValueError:
            log.warning("unreadable manifest", extra={"path": str(path)})
            continue
        found[manifest.revision] = manifest
    if current is not None:
        found.setdefault(current.revision, current)
    lifecycle = read_state(repository) if repository.exists() else None
    status = statuses(repository) if repository.exists() else {}
    return {
        "current": current.version if current else None,
        "shadow": lifecycle.shadow.model_dump(mode="json") if lifecycle and lifecycle.shadow else None,
        "changes": [c.model_dump(mode="json", exclude={"gate"}) for c in lifecycle.changes]
        if lifecycle
        else [],
        "models": [
            {
                **without_paths(json.loads(m.model_dump_json(exclude={"labels", "reference"}))),
                "labels": len(m.labels),
                "current": current is not None and m.version == current.version,
                "status": status.get(m.version, "candidate"),
            }
            for m in sorted(found.values(), key=lambda m: m.revision, reverse=True)
        ],
    }


@router.get("/models", summary="Model versions in the model repository (manifests)")
async def models(state: State) -> dict[str, Any]:
    return await run_in_threadpool(read_models, state.settings.model_repository)


@router.get("/training", summary="Progress of a background training run (the demo's), if any")
async def training(state: State) -> dict[str, Any]:
    """The last progress snapshot under the var dir, or ``{"state": "none"}`` when no background
    training ever ran here (the dashboard's progress bar polls it). Its log's path stays on
    the server."""
    snapshot = await run_in_threadpool(read_progress, progress_path(state.settings.var_dir))
    return {"state": "none"} if snapshot is None else without_paths(snapshot.model_dump(mode="json"))


# --- reclassification jobs ------------------------------------------------------------------


@router.post(
    "/jobs",
    status_code=201,
    response_model=JobOut,
    dependencies=[WriteAccess],
    responses={
        401: {"model": ErrorOut},
        409: {
            "model": ErrorOut,
            "description": "The category is not a live leaf of the current taxonomy (unknown, "
            "retired, merged or a department).",
        },
        429: {"model": ErrorOut, "description": "CATALOG_MAX_PENDING_JOBS jobs are pending or running."},
    },
    summary="Create a bulk reclassification job (a reclassify worker runs it)",
)
async def post_job(body: JobIn, state: State, session: DbSession) -> dict[str, Any]:
    """Counts the matching listings and records a pending job; a reclassify worker
    (``catalog worker reclassify``) claims and runs it, and takes it over if its runner dies.
    At most ``CATALOG_MAX_PENDING_JOBS`` jobs wait or run at once."""
    flt = JobFilter(category=body.category, since=body.since, model_version=body.model_version)
    limit = state.settings.max_pending_jobs
    return await run_in_threadpool(_create_job, session, flt, body.max_in_flight, body.page_size, limit)


JOB_CREATION_LOCK = 0x6A6F6273  # "jobs": a transaction-scoped advisory lock key


def _create_job(
    session: Session, flt: JobFilter, max_in_flight: int, page_size: int, max_active: int
) -> dict[str, Any]:
    refused = code_refusal(session, flt.category) if flt.category is not None else None
    if refused is not None:  # unknown, retired, merged or a department
        raise HTTPException(refused.status, str(refused))
    if session.get_bind().dialect.name == "postgresql":  # one creation at a time: the cap is exact
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": JOB_CREATION_LOCK})
    active = session.scalar(
        select(func.count()).select_from(ReclassificationJob).where(ReclassificationJob.status.in_(ACTIVE))
    )
    if (active or 0) >= max_active:
        raise HTTPException(
            429,
            f"{active} reclassification jobs are pending or running (CATALOG_MAX_PENDING_JOBS="
            f"{max_active}): wait for one to finish, or cancel one (POST /v1/jobs/{{job_id}}/cancel).",
            headers={"Retry-After": "60"},
        )
    view = job_view(create_job(session, flt, max_in_flight, page_size=page_size))
    session.commit()
    return view


@router.get("/jobs", response_model=list[JobOut], summary="Reclassification jobs, newest first")
def get_jobs(session: DbSession, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
    return [job_view(j) for j in list_jobs(session, limit)]


def _not_found(exc: JobNotFound) -> HTTPException:
    return HTTPException(404, f"{exc}: list jobs with GET /v1/jobs.")


@router.get(
    "/jobs/{job_id}", response_model=JobOut, responses={404: {"model": ErrorOut}}, summary="A job's progress"
)
def get_one_job(job_id: uuid.UUID, session: DbSession) -> dict[str, Any]:
    try:
        return job_view(get_job(session, job_id))
    except JobNotFound as exc:
        raise _not_found(exc) from exc


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=JobOut,
    dependencies=[WriteAccess],
    responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}},
    summary="Cancel a job (its runner stops before its next page)",
)
def post_cancel(job_id: uuid.UUID, session: DbSession) -> dict[str, Any]:
    try:
        return job_view(cancel_job(session, job_id))
    except JobNotFound as exc:
        raise _not_found(exc) from exc
