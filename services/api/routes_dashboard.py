"""Read side: dashboard statistics, model versions, reclassification jobs."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from services.reclassify.jobs import (
    JobFilter,
    JobNotFound,
    cancel_job,
    create_job,
    get_job,
    job_view,
    list_jobs,
)
from services.reclassify.runner import RunOptions, run_job
from shared.contract import utcnow
from shared.db import queries
from shared.db.session import session_scope
from shared.model_repo import MANIFEST, MANIFESTS_DIR, Manifest

from .schemas import ErrorOut, JobIn, JobOut
from .state import ApiState, State, WriteAccess

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", responses={422: {"model": ErrorOut}})
T = TypeVar("T")

Since = Annotated[datetime | None, Query(description="Only predictions classified at or after (ISO 8601).")]
Until = Annotated[datetime | None, Query(description="Only predictions classified before (ISO 8601).")]
OriginQ = Annotated[Literal["ingest", "reclassify"] | None, Query(description="Live or bulk predictions.")]
VersionQ = Annotated[str | None, Query(max_length=64, description="Only this model version.")]


async def in_session(state: ApiState, fn: Callable[[Session], T]) -> T:
    """Run ``fn(session)`` in one transaction on a worker thread."""

    def call() -> T:
        with session_scope(state.settings.effective_database_url) as session:
            return fn(session)

    return await run_in_threadpool(call)


@router.get("/stats/distribution", summary="Predictions per category")
async def distribution(
    state: State,
    since: Since = None,
    until: Until = None,
    origin: OriginQ = None,
    model_version: VersionQ = None,
) -> dict[str, Any]:
    flt = queries.PredictionFilter(since=since, until=until, origin=origin, model_version=model_version)
    return await in_session(state, lambda s: queries.category_distribution(s, flt))


@router.get("/stats/review-queue", summary="Listings whose current category is not confident enough")
async def review_queue(
    state: State,
    threshold: Annotated[float | None, Query(ge=0, le=1, description="Default: the configured one.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    model_version: VersionQ = None,
) -> dict[str, Any]:
    cut = state.settings.low_confidence_threshold if threshold is None else threshold
    return await in_session(state, lambda s: queries.review_queue(s, cut, limit, offset, model_version))


@router.get("/stats/throughput", summary="Predictions per time bucket, end-to-end and per-stage lag")
async def throughput(
    state: State,
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
    return await in_session(state, lambda s: queries.throughput_and_lag(s, flt, bucket_s))


@router.get("/stats/agreement", summary="Agreement between two model versions on the same listings")
async def agreement(
    state: State,
    version_a: Annotated[str, Query(max_length=64, description="The older version.")],
    version_b: Annotated[str, Query(max_length=64, description="The newer version.")],
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    return await in_session(state, lambda s: queries.version_agreement(s, version_a, version_b, top))


@router.get("/stats/versions", summary="Model versions present in stored predictions")
async def versions(state: State) -> list[dict[str, Any]]:
    return await in_session(state, queries.model_versions_seen)


def read_models(repository: Any) -> dict[str, Any]:
    """Every manifest in the model repository, the current one marked."""
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
    return {
        "repository": str(repository),
        "current": current.version if current else None,
        "models": [
            {
                **json.loads(m.model_dump_json(exclude={"labels"})),
                "labels": len(m.labels),
                "current": current is not None and m.revision == current.revision,
            }
            for m in sorted(found.values(), key=lambda m: m.revision, reverse=True)
        ],
    }


@router.get("/models", summary="Model versions in the model repository (manifests)")
async def models(state: State) -> dict[str, Any]:
    return await run_in_threadpool(read_models, state.settings.model_repository)


# --- reclassification jobs ------------------------------------------------------------------


def _start_job(state: ApiState, job_id: uuid.UUID, page_size: int) -> None:
    task = asyncio.create_task(run_job(state.settings, job_id, RunOptions(page_size=page_size)))
    state.jobs[job_id] = task

    def done(t: asyncio.Task[Any]) -> None:
        state.jobs.pop(job_id, None)
        if not t.cancelled() and t.exception() is not None:
            log.error("job runner failed", extra={"job_id": str(job_id), "error": repr(t.exception())})

    task.add_done_callback(done)


@router.post(
    "/jobs",
    status_code=201,
    response_model=JobOut,
    dependencies=[WriteAccess],
    responses={401: {"model": ErrorOut}},
    summary="Create (and start) a bulk reclassification job",
)
async def post_job(body: JobIn, state: State) -> dict[str, Any]:
    """Counts the matching listings and, with ``start`` (default), runs the job in this
    process; it can be resumed anywhere with ``catalog reclassify --resume JOB_ID``."""
    flt = JobFilter(category=body.category, since=body.since, model_version=body.model_version)
    view = await in_session(state, lambda s: job_view(create_job(s, flt, body.max_in_flight)))
    if body.start:
        _start_job(state, uuid.UUID(view["job_id"]), body.page_size)
    return view


@router.get("/jobs", response_model=list[JobOut], summary="Reclassification jobs, newest first")
async def get_jobs(state: State, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
    return await in_session(state, lambda s: [job_view(j) for j in list_jobs(s, limit)])


def _job_or_404(state: ApiState, fn: Callable[[Session], Any]) -> Any:
    async def call() -> Any:
        try:
            return await in_session(state, fn)
        except JobNotFound as exc:
            raise HTTPException(404, f"{exc}: list jobs with GET /v1/jobs.") from exc

    return call()


@router.get(
    "/jobs/{job_id}", response_model=JobOut, responses={404: {"model": ErrorOut}}, summary="A job's progress"
)
async def get_one_job(job_id: uuid.UUID, state: State) -> dict[str, Any]:
    return await _job_or_404(state, lambda s: job_view(get_job(s, job_id)))  # type: ignore[no-any-return]


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=JobOut,
    dependencies=[WriteAccess],
    responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}},
    summary="Cancel a job (its runner stops before its next page)",
)
async def post_cancel(job_id: uuid.UUID, state: State) -> dict[str, Any]:
    return await _job_or_404(state, lambda s: job_view(cancel_job(s, job_id)))  # type: ignore[no-any-return]
