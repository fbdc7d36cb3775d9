"""Reclassification jobs under a bad day (issue 24 I): listings created during the run are not
the job's work (progress never passes 100 %), and ``catalog reclassify`` rides out a Redis
restart instead of crashing with a traceback (a real redis-server of the test's own)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.reclassify.runner import RunOptions, run_job
from shared.config import Settings
from shared.contract import ListingSubmitted
from shared.db.jobs import JobFilter, create_job, job_view
from shared.db.listings import upsert_listings
from shared.db.session import session_scope, upgrade
from tests.integration.reclassify.test_reclassify_resume import (
    LISTINGS,
    RECLASSIFY_WAIT,
    job_row,
    list_jobs_now,
    pipeline,
)
from tests.ledger import versions_repository
from tests.waiting import eventually, eventually_sync

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@pytest.fixture
def base(postgres_url: str) -> str:
    upgrade(postgres_url)
    offers = [ListingSubmitted.new(f"R{i:04d}", title=f"Offre {i}") for i in range(LISTINGS)]
    with session_scope(postgres_url) as s:
        upsert_listings(s, offers)
    return postgres_url


async def test_listings_created_during_a_job_are_not_its_work(
    base: str, redis_prefix: str, tmp_path: Path
) -> None:
    from tests.conftest import REDIS_URL

    settings = Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        database_url=base,
        batch_size=8,
        model_repository=versions_repository(tmp_path / "repo", "r1"),  # the stand-in's version
    )
    with session_scope(base) as s:
        job = create_job(s, JobFilter(), max_in_flight=20, status="running")
        assert job.total == LISTINGS
    later = [ListingSubmitted.new(f"R{i:04d}", title=f"New {i}") for i in range(LISTINGS, LISTINGS + 30)]
    with session_scope(base) as s:  # created while the job runs (ids after the cursor, too)
        upsert_listings(s, later)
    async with pipeline(settings):
        final = await run_job(settings, job.id, RunOptions(page_size=7, poll_interval_s=0.05))
    assert (final["status"], final["total"], final["published"], final["completed"]) == (
        "completed", LISTINGS, LISTINGS, LISTINGS,
    )  # fmt: skip
    assert final["progress"] == 1.0


def test_the_total_is_never_below_what_was_published(base: str) -> None:
    """A filtered job's listing may match only after the count (its category changed): the
    shown total follows what was published, and a completed job's total is exact."""
    with session_scope(base) as s:
        job = create_job(s, JobFilter(), max_in_flight=5)
        job.published, job.completed = LISTINGS + 3, LISTINGS + 3
        view = job_view(job)
    assert (view["total"], view["progress"]) == (LISTINGS + 3, 1.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]], list[str]]]:
    """A redis-server of this test (append-only, so a restart keeps the streams)."""
    port = free_port()
    args = [
        REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
        "--appendonly", "yes", "--appendfsync", "always", "--save", "",
    ]  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    servers = [subprocess.Popen(args, stdout=subprocess.DEVNULL)]
    eventually_sync(lambda: _pings(url), timeout_s=30)
    try:
        yield url, servers, args
    finally:
        for server in servers:
            if server.poll() is None:
                server.terminate()
                server.wait(timeout=30)


def _pings(url: str) -> bool:
    client = redis.Redis.from_url(url)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


async def test_the_cli_runner_rides_out_a_redis_restart(
    base: str, own_redis: tuple[str, list[subprocess.Popen[bytes]], list[str]], tmp_path: Path
) -> None:
    url, servers, args = own_redis
    settings = Settings(
        redis_url=url,
        stream_prefix="jobs:",
        database_url=base,
        batch_size=8,
        model_repository=versions_repository(tmp_path / "repo", "r1"),  # the stand-in's version
    )
    env = {
        **os.environ,
        "CATALOG_DATABASE_URL": base,
        "CATALOG_REDIS_URL": url,
        "CATALOG_STREAM_PREFIX": "jobs:",
    }
    cmd = [
        sys.executable,
        "-m",
        "services.cli.main",
        "reclassify",
        "--page-size",
        "5",
        "--max-in-flight",
        "10",
    ]
    runner = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Nothing classifies yet: the runner publishes max-in-flight offers and waits.
        await eventually(
            lambda: bool(list_jobs_now(base)) and job_row(base).published == 10, **RECLASSIFY_WAIT
        )
        servers[0].terminate()
        servers[0].wait(timeout=30)
        # Its loop reads Redis every half second: several failed reads while Redis is down.
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and runner.poll() is None:
            await asyncio.sleep(0.2)
        assert runner.poll() is None, runner.communicate(timeout=10)[1].decode()[-3000:]
        servers.append(subprocess.Popen(args, stdout=subprocess.DEVNULL))
        await eventually(lambda: _pings(url), timeout_s=30)
        async with pipeline(settings):
            _, stderr = await asyncio.to_thread(runner.communicate, timeout=180)
        assert runner.returncode == 0, stderr.decode()[-3000:]
        assert "Traceback" not in stderr.decode()
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=30)
    job = job_row(base)
    assert (job.status, job.total, job.published, job.completed) == (
        "completed",
        LISTINGS,
        LISTINGS,
        LISTINGS,
    )
