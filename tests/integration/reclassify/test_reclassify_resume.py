"""Bulk reclassification against real Redis, PostgreSQL and the real results-writer.

Upstream of the writer, a stand-in worker turns each submitted offer into a classified event
(the real encoders and fusion are exercised by the end-to-end test); what is under test here
is the job runner: throttling, the persisted cursor, SIGKILL + resume, cancel.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from services.reclassify.runner import RunOptions, run_job
from services.writer.worker import create_worker
from shared.broker import Emit, EventPublisher, Reject, WorkerApp, read_events
from shared.config import Settings
from shared.contract import ListingSubmitted, Stream, lane_stream
from shared.db.jobs import JobFilter, cancel_job, create_job, get_job, list_jobs, next_page
from shared.db.listings import upsert_listings
from shared.db.models import Prediction, ReclassificationJob
from shared.db.session import session_scope, upgrade
from tests.conftest import REDIS_URL
from tests.ledger import record, versions_repository
from tests.support.factories import classified_event
from tests.waiting import eventually

RECLASSIFY_WAIT = {"timeout_s": 60.0, "interval_s": 0.1}

LISTINGS = 60


@pytest.fixture
def settings(redis_prefix: str, postgres_url: str, tmp_path: Path) -> Settings:
    upgrade(postgres_url)
    offers = [ListingSubmitted.new(f"R{i:04d}", title=f"Offre {i}") for i in range(LISTINGS)]
    with session_scope(postgres_url) as s:
        upsert_listings(s, offers)
    return Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        database_url=postgres_url,
        batch_size=8,
        model_repository=versions_repository(tmp_path / "repo", "r1"),  # the stand-in's version
    )


def stand_in_pipeline(settings: Settings, poisoned: frozenset[str] = frozenset()) -> WorkerApp:
    """listings.submitted -> listings.classified, keeping submission id and origin; the
    ``poisoned`` listings are dead-lettered instead."""
    worker = WorkerApp("standin", settings)

    @worker.consume(Stream.SUBMITTED, ListingSubmitted, batch=True)
    async def classify(events: list[ListingSubmitted]) -> list[Emit | Reject]:
        return [
            Reject(e, error="poisoned offer")
            if e.listing_id in poisoned
            else Emit(
                Stream.CLASSIFIED,
                classified_event(e.listing_id, 10, 0.9, origin=e.origin, submission_id=e.submission_id),
            )
            for e in events
        ]

    return worker


@asynccontextmanager
async def pipeline(settings: Settings, poisoned: frozenset[str] = frozenset()) -> AsyncIterator[None]:
    async with stand_in_pipeline(settings, poisoned).running(), create_worker(settings).running():
        yield


def job_row(url: str, job_id: uuid.UUID | None = None) -> ReclassificationJob:
    with session_scope(url) as s:
        return get_job(s, job_id) if job_id else list_jobs(s, 1)[0]


def predictions_of(url: str, job_id: uuid.UUID) -> dict[str, int]:
    with session_scope(url) as s:
        rows = s.execute(
            select(Prediction.listing_id, func.count())
            .where(Prediction.job_id == job_id)
            .group_by(Prediction.listing_id)
        )
        return {lid: int(n) for lid, n in rows}


def list_jobs_now(url: str) -> list[Any]:
    with session_scope(url) as s:
        return list_jobs(s, 1)


def reclassify_cli(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CATALOG_DATABASE_URL": settings.effective_database_url,
        "CATALOG_REDIS_URL": REDIS_URL,
        "CATALOG_STREAM_PREFIX": settings.stream_prefix,
    }
    cmd = [sys.executable, "-m", "services.cli.main", "reclassify", "--page-size", "5", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def test_sigkilled_job_resumes_and_completes_every_listing_once(settings: Settings) -> None:
    url = settings.effective_database_url
    runner = reclassify_cli(settings, "--max-in-flight", "10", "--stall-timeout", "120")
    try:
        # nothing classifies yet: the job publishes max-in-flight offers and waits
        await eventually(lambda: bool(list_jobs_now(url)) and job_row(url).published == 10, **RECLASSIFY_WAIT)
        await asyncio.sleep(1.0)  # it would have published more by now if it did not throttle
        assert job_row(url).published == 10
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    job = job_row(url)
    assert (job.status, job.cursor) == ("running", "R0009")  # left as it was when killed
    async with pipeline(settings):
        await eventually(lambda: job_row(url, job.id).completed == 10, **RECLASSIFY_WAIT)
        resumed = reclassify_cli(settings, "--resume", str(job.id))
        _, stderr = await asyncio.to_thread(resumed.communicate, timeout=120)
        assert resumed.returncode == 0, stderr.decode()[-2000:]
    final = job_row(url, job.id)
    assert (final.status, final.total, final.published, final.completed) == ("completed", 60, 60, 60)
    assert predictions_of(url, job.id) == {f"R{i:04d}": 1 for i in range(LISTINGS)}


async def test_page_published_before_a_crash_is_republished_once_and_stored_once(settings: Settings) -> None:
    """A crash between publishing a page and saving the cursor: resume re-publishes exactly
    that page, with the same submission ids, and the writer stores each listing once."""
    url = settings.effective_database_url
    with session_scope(url) as s:
        job = create_job(s, JobFilter(), max_in_flight=20, status="running")
        page = next_page(s, job, 5)
    async with EventPublisher(settings) as pub:
        await pub.publish(Stream.SUBMITTED, page)  # ... and the process dies here
    async with pipeline(settings):
        final = await run_job(settings, job.id, RunOptions(page_size=5, poll_interval_s=0.05))
    assert (final["status"], final["published"], final["completed"]) == ("completed", 60, 60)
    assert predictions_of(url, job.id) == {f"R{i:04d}": 1 for i in range(LISTINGS)}
    entries = await read_events(
        settings, Stream.SUBMITTED, ListingSubmitted, count=LISTINGS + 10, timeout_s=1, lane="bulk"
    )
    assert len(entries) == LISTINGS + 5  # one page twice, nothing else, all on the bulk lane


async def test_cancel_stops_the_runner_and_filters_select_listings(settings: Settings) -> None:
    url = settings.effective_database_url
    async with pipeline(settings):
        with session_scope(url) as s:
            first = create_job(s, JobFilter(), max_in_flight=60)
        done = await run_job(settings, first.id, RunOptions(page_size=20, poll_interval_s=0.05))
        assert done["completed"] == 60
        with session_scope(url) as s:  # every listing is now category 10 with model r1
            assert create_job(s, JobFilter(category=40), 5).total == 0
            picked = create_job(s, JobFilter(category=10, model_version="r1"), max_in_flight=5)
            cancel_job(s, picked.id)
        assert picked.total == 60
        cancelled = await run_job(settings, picked.id, RunOptions(page_size=5))
    assert (cancelled["status"], cancelled["published"]) == ("cancelled", 0)


async def test_job_created_through_the_api_runs_in_the_reclassify_worker(settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from services.cli.wiring import api_app
    from services.reclassify.worker import create_worker as reclassify_worker

    url = settings.effective_database_url
    settings = settings.model_copy(update={"api_token": "jobs-token"})
    fast = settings.model_copy(update={"job_poll_interval_s": 0.1})
    with TestClient(api_app(settings), headers={"Authorization": "Bearer jobs-token"}) as client:
        created = client.post("/v1/jobs", json={"max_in_flight": 15, "page_size": 10}).json()
        job_id = uuid.UUID(created["job_id"])
        assert created["status"] == "pending"  # the API only records it
        async with pipeline(settings), reclassify_worker(fast).running():

            def finished() -> bool:
                return bool(client.get(f"/v1/jobs/{job_id}").json()["status"] == "completed")

            await eventually(finished, **RECLASSIFY_WAIT)
        view = client.get(f"/v1/jobs/{job_id}").json()
    assert (view["published"], view["completed"], view["in_flight"], view["progress"]) == (60, 60, 0, 1.0)
    assert view["runner"].startswith("reclassify-") and view["page_size"] == 10
    assert predictions_of(url, job_id) == {f"R{i:04d}": 1 for i in range(LISTINGS)}


async def test_a_job_whose_runner_died_is_taken_over_without_an_operator(settings: Settings) -> None:
    """The CLI runner is SIGKILLed mid-job; a reclassify worker takes the job over once its
    heartbeat is older than the lease, resumes at the saved cursor, and every listing is stored once."""
    from services.reclassify.worker import create_worker as reclassify_worker

    url = settings.effective_database_url
    runner = reclassify_cli(settings, "--max-in-flight", "10")
    try:
        await eventually(lambda: bool(list_jobs_now(url)) and job_row(url).published == 10, **RECLASSIFY_WAIT)
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    job = job_row(url)
    assert job.status == "running" and job.runner is not None and job.runner.startswith("cli-")
    worker_settings = settings.model_copy(update={"job_lease_s": 1.0, "job_poll_interval_s": 0.1})
    async with pipeline(settings), reclassify_worker(worker_settings).running():
        await eventually(lambda: job_row(url, job.id).status == "completed", **RECLASSIFY_WAIT)
    final = job_row(url, job.id)
    assert final.runner is not None and final.runner.startswith("reclassify-")
    assert (final.published, final.completed) == (60, 60)
    assert predictions_of(url, job.id) == {f"R{i:04d}": 1 for i in range(LISTINGS)}


async def test_dead_lettered_offers_do_not_block_the_job(settings: Settings) -> None:
    """6 poisoned offers, at most 5 in flight: without counting dead letters the job would wait
    for ever; it completes and says how many were dead-lettered."""
    poisoned = frozenset(f"R{i:04d}" for i in range(3, LISTINGS, 10))
    url = settings.effective_database_url
    with session_scope(url) as s:
        job = create_job(s, JobFilter(), max_in_flight=5)
    async with pipeline(settings, poisoned):
        final = await run_job(
            settings, job.id, RunOptions(page_size=5, poll_interval_s=0.05, stall_timeout_s=60)
        )
    assert (final["status"], final["published"], final["completed"]) == ("completed", 60, 54)
    assert final["error"].startswith("6 offers were dead-lettered")
    assert set(predictions_of(url, job.id)) == {f"R{i:04d}" for i in range(LISTINGS)} - poisoned


async def test_a_live_offer_waits_behind_no_bulk_offer(settings: Settings) -> None:
    """The job keeps max_in_flight offers on the bulk lane; the live one has its stream alone."""
    url = settings.effective_database_url
    with session_scope(url) as s:
        job = create_job(s, JobFilter(), max_in_flight=10)
    runner = asyncio.create_task(run_job(settings, job.id, RunOptions(page_size=4, poll_interval_s=0.05)))
    try:
        await eventually(lambda: job_row(url, job.id).published >= 10, **RECLASSIFY_WAIT)
        live = ListingSubmitted.new("LIVE-1", title="Console de jeux")
        record(url, [live])  # as the API does (the stand-in pipeline has no language worker)
        async with EventPublisher(settings) as pub:
            await pub.publish(Stream.SUBMITTED, [live])
            queued = await pub.redis.xlen(settings.key(Stream.SUBMITTED))
            bulk = await pub.redis.xlen(settings.key(lane_stream(Stream.SUBMITTED, "bulk")))
        assert job_row(url, job.id).published == 10  # 4 + 4 + 2: the page shrinks to the room left
        assert (queued, bulk) == (1, 10)  # max_in_flight bulk offers, none ahead of the live one
        async with pipeline(settings):
            final = await asyncio.wait_for(runner, timeout=60)
            await eventually(lambda: "LIVE-1" in predictions_of_live(url), **RECLASSIFY_WAIT)
    finally:
        runner.cancel()
    assert final["status"] == "completed"


def predictions_of_live(url: str) -> set[str]:
    with session_scope(url) as s:
        return set(s.scalars(select(Prediction.listing_id).where(Prediction.origin == "ingest")))
