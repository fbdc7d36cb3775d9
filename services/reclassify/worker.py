"""The reclassify worker (``catalog worker reclassify``): runs reclassification jobs.

The API and ``catalog jobs`` only create jobs (rows in ``reclassification_jobs``); this worker
polls the table, claims a runnable job (pending, or running with a heartbeat older than
``CATALOG_JOB_LEASE_S``: its runner died) and runs it with :func:`run_job`, which refreshes
the heartbeat. Any number of replicas may run: a job is claimed by one of them at a time, and a
replica that dies mid-job leaves it to another after the lease, which resumes at the saved cursor.
It consumes no stream; it publishes ``listings.submitted``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text

from shared.broker import WorkerApp, WorkerSpec
from shared.config import Settings
from shared.contract import Stream
from shared.db.jobs import claim_next, get_job
from shared.db.session import session_scope

from .runner import RunOptions, run_job, runner_name

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 500


JobRun = Callable[[uuid.UUID, RunOptions], Awaitable[dict[str, Any]]]
"""Runs one claimed job to its end (``run_job`` with this worker's settings and runner name)."""


@dataclass
class Deps:
    """The settings the job loop reads, this replica's runner name and how to run a job."""

    database_url: str
    runner: str
    job_lease_s: float
    job_poll_interval_s: float
    run: JobRun


async def open_deps(settings: Settings, redis: Redis) -> Deps:
    runner = runner_name("reclassify")

    async def run(job_id: uuid.UUID, options: RunOptions) -> dict[str, Any]:
        return await run_job(settings, job_id, options, runner=runner)

    return Deps(
        settings.effective_database_url, runner, settings.job_lease_s, settings.job_poll_interval_s, run
    )


async def database_ready(deps: Deps) -> None:
    def ping() -> None:
        with session_scope(deps.database_url) as session:
            session.execute(text("SELECT 1"))

    await asyncio.to_thread(ping)


def _claim_next(deps: Deps) -> tuple[uuid.UUID, int] | None:
    """A claimed job id and its page size, or None."""
    with session_scope(deps.database_url) as session:
        job_id = claim_next(session, deps.runner, deps.job_lease_s)
        if job_id is None:
            return None
        return job_id, get_job(session, job_id).page_size or DEFAULT_PAGE_SIZE


async def run_next(deps: Deps) -> dict[str, Any] | None:
    """Claim and run one runnable job to its end; None when there is none."""
    claimed = await asyncio.to_thread(_claim_next, deps)
    if claimed is None:
        return None
    job_id, page_size = claimed
    log.info("job claimed", extra={"job_id": str(job_id), "runner": deps.runner})
    options = RunOptions(page_size=page_size, heartbeat_interval_s=deps.job_lease_s / 4)
    view = await deps.run(job_id, options)
    log.info("job left", extra={"job_id": str(job_id), "status": view["status"]})
    return view


async def poll_jobs(deps: Deps) -> None:
    """The worker's loop: one job at a time, then look again; idle: every poll interval."""
    while True:
        try:
            ran = await run_next(deps)
        except Exception:  # database down for a moment: log, wait, try again
            log.exception("reclassification job loop failed; retrying")
            ran = None
        if ran is None:
            await asyncio.sleep(deps.job_poll_interval_s)


SPEC = WorkerSpec(
    name="reclassify",
    consumes=(),
    publishes=(Stream.SUBMITTED,),
    open=open_deps,
    ready=database_ready,
    background=poll_jobs,
    description="Runs bulk reclassification jobs created by the API or CLI (claim, heartbeat, takeover).",
)


def create_worker(settings: Settings) -> WorkerApp:
    """A worker running reclassification jobs one at a time."""
    return WorkerApp.from_spec(SPEC, settings)
