"""Workers outlive Redis: started while it is down they wait for it (backoff); when Redis comes
back without its data (groups gone: NOGROUP) a live-lane subscriber ends the worker, whose
restart recreates the groups, and the bulk lane's own reader recreates its group in place."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
import redis.asyncio as aredis

from shared.broker import EventPublisher
from shared.config import Settings
from shared.contract import ListingSubmitted, Stream, lane_stream
from tests.conftest import REDIS_URL
from tests.integration.broker.crashy_worker import create_worker
from tests.integration.broker.test_delivery import start_worker_process
from tests.waiting import eventually

REDIS_SERVER = Path("/usr/bin/redis-server")


def settings_for(prefix: str, url: str = REDIS_URL) -> Settings:
    return Settings(redis_url=url, stream_prefix=prefix, reclaim_idle_ms=500, max_deliveries=3, batch_size=8)


async def test_live_lane_group_loss_ends_the_worker_and_its_restart_recreates_the_group(
    redis_prefix: str,
) -> None:
    """FastStream stops a subscriber whose group vanished and exits the app (its documented
    terminal error); the process ends cleanly, its supervisor (``catalog up``, compose, the
    Deployment) starts it again, and the start recreates the group."""
    settings = settings_for(redis_prefix)
    client = aredis.Redis.from_url(REDIS_URL)
    completions = settings.key("completions")
    first = start_worker_process(settings)
    second: subprocess.Popen[bytes] | None = None
    try:
        async with EventPublisher(settings) as pub:
            await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("L-before", "before")])
            await eventually(lambda: client.llen(completions), timeout_s=60)
            # What a restart without data does to this worker's keys: streams and groups gone.
            await client.delete(settings.key(Stream.SUBMITTED), completions)
            assert await asyncio.to_thread(first.wait, 30) == 0  # ended, not hung or crashed
            second = start_worker_process(settings)
            await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("L-after", "after")])
            await eventually(lambda: client.llen(completions), timeout_s=60)
        groups = await client.xinfo_groups(settings.key(Stream.SUBMITTED))
        assert [g["name"] for g in groups] == [b"crashy"]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        await client.aclose()


async def test_bulk_lane_recreates_its_group_in_process(redis_prefix: str) -> None:
    """The bulk lane is read by the helper's own loop: a vanished group is recreated there and
    reading goes on without a restart."""
    settings = settings_for(redis_prefix)
    client = aredis.Redis.from_url(REDIS_URL)
    completions = settings.key("completions")
    bulk_key = settings.key(lane_stream(Stream.SUBMITTED, "bulk"))
    try:
        async with create_worker(settings).running(), EventPublisher(settings) as pub:
            await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("L-before", "before", lane="bulk")])
            await eventually(lambda: client.llen(completions), timeout_s=30)
            await client.delete(bulk_key, completions)
            await asyncio.sleep(0.5)  # the bulk reader now reads a missing group (NOGROUP)
            await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("L-after", "after", lane="bulk")])
            await eventually(lambda: client.llen(completions), timeout_s=30)
            groups = await client.xinfo_groups(bulk_key)
            assert [g["name"] for g in groups] == [b"crashy"]
    finally:
        await client.aclose()


@pytest.mark.skipif(not REDIS_SERVER.is_file(), reason="needs the machine's redis-server")
async def test_worker_started_while_redis_is_down_waits_for_it(tmp_path: Path) -> None:
    port = 18261  # nothing listens there until the server below starts
    settings = settings_for("test-down:", f"redis://127.0.0.1:{port}/0")
    app = create_worker(settings)
    server: subprocess.Popen[bytes] | None = None

    async def run() -> None:
        async with app.running():
            await pub_and_wait()

    async def pub_and_wait() -> None:
        client = aredis.Redis.from_url(settings.redis_url or "")
        try:
            async with EventPublisher(settings) as pub:
                await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("L-late", "late")])
            await eventually(lambda: client.llen(settings.key("completions")), timeout_s=30)
        finally:
            await client.aclose()

    task = asyncio.create_task(run())
    try:
        await asyncio.sleep(1.5)
        assert not task.done(), "the worker gave up while Redis was down"
        server = subprocess.Popen(
            [
                str(REDIS_SERVER),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.DEVNULL,
        )
        await asyncio.wait_for(task, timeout=90)
    finally:
        task.cancel()
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
