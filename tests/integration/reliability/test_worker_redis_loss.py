"""Workers outlive Redis: started while it is down they wait for it (backoff), and when Redis
comes back without its data (groups gone: NOGROUP) they recreate their groups and go on."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
import redis.asyncio as aredis

from shared.broker import EventPublisher
from shared.config import Settings
from shared.contract import ListingSubmitted, Stream
from tests.conftest import REDIS_URL
from tests.integration.broker.crashy_worker import create_worker
from tests.waiting import eventually

REDIS_SERVER = Path("/usr/bin/redis-server")


def settings_for(prefix: str, url: str = REDIS_URL) -> Settings:
    return Settings(redis_url=url, stream_prefix=prefix, reclaim_idle_ms=500, max_deliveries=3, batch_size=8)


async def test_worker_recreates_its_group_when_redis_loses_its_data(redis_prefix: str) -> None:
    settings = settings_for(redis_prefix)
    client = aredis.Redis.from_url(REDIS_URL)
    completions = settings.key("completions")
    try:
        async with create_worker(settings).running(), EventPublisher(settings) as pub:
            await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("L-before", "before")])
            await eventually(lambda: client.llen(completions), timeout_s=30)
            # What a restart without data does to this worker's keys: streams and groups gone.
            await client.delete(settings.key(Stream.SUBMITTED), completions)
            await asyncio.sleep(0.5)  # the subscribers now read a missing group (NOGROUP)
            await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("L-after", "after")])
            await eventually(lambda: client.llen(completions), timeout_s=30)
            groups = await client.xinfo_groups(settings.key(Stream.SUBMITTED))
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
