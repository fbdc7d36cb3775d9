"""Delivery guarantees of the broker helper against the machine's real Redis (docs/architecture.md §3)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as aredis

from shared.broker import EventPublisher, read_events
from shared.config import Settings
from shared.contract import DeadLetter, ListingPrepared, ListingSubmitted, Stream
from tests.conftest import REDIS_URL
from tests.integration.broker.crashy_worker import create_worker
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[3]


def settings_for(prefix: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "redis_url": REDIS_URL,
        "stream_prefix": prefix,
        "reclaim_idle_ms": 500,
        "max_deliveries": 3,
        "batch_size": 8,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def start_worker_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        CATALOG_REDIS_URL=REDIS_URL,
        CATALOG_STREAM_PREFIX=settings.stream_prefix,
        CATALOG_RECLAIM_IDLE_MS=str(settings.reclaim_idle_ms),
        CATALOG_MAX_DELIVERIES=str(settings.max_deliveries),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.broker.crashy_worker"], cwd=ROOT, env=env
    )


async def test_killed_worker_message_is_processed_once_by_another_consumer(redis_prefix: str) -> None:
    settings = settings_for(redis_prefix, reclaim_idle_ms=1500)
    client = aredis.Redis.from_url(REDIS_URL)
    first = start_worker_process(settings)
    second: subprocess.Popen[bytes] | None = None
    try:
        event = ListingSubmitted.new("L-kill", "hang-first-time")
        async with EventPublisher(settings) as pub:
            await pub.publish(Stream.SUBMITTED, [event])
        # The first process is now in the middle of the message: kill it there.
        await eventually(lambda: client.llen(settings.key("hanging")), timeout_s=60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        pending = await client.xpending(settings.key(Stream.SUBMITTED), "crashy")
        assert pending["pending"] == 1

        second = start_worker_process(settings)
        out = await read_events(settings, Stream.PREPARED, ListingPrepared, count=1, timeout_s=60)
        assert [e.submission_id for e in out] == [event.submission_id]

        await eventually(lambda: _pending_is(client, settings, 0), timeout_s=30)
        await asyncio.sleep(2 * settings.reclaim_idle_ms / 1000)  # a duplicate would show now
        completions = await client.lrange(settings.key("completions"), 0, -1)
        assert completions == [str(event.submission_id).encode()]
        assert await client.xlen(settings.key(Stream.PREPARED)) == 1
        assert await client.xlen(settings.key(Stream.DEAD)) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
        await client.aclose()


async def _pending_is(client: aredis.Redis, settings: Settings, n: int) -> bool:
    info = await client.xpending(settings.key(Stream.SUBMITTED), "crashy")
    return bool(info["pending"] == n)


async def test_always_failing_message_is_dead_lettered_and_worker_goes_on(redis_prefix: str) -> None:
    settings = settings_for(redis_prefix, reclaim_idle_ms=200, max_deliveries=3)
    worker = create_worker(settings)
    poison = ListingSubmitted.new("L-poison", "always-fail")
    good = ListingSubmitted.new("L-good", "a fine offer")
    async with worker.running(), EventPublisher(settings) as pub:
        await pub.publish(Stream.SUBMITTED, [poison])
        dead = await read_events(settings, Stream.DEAD, DeadLetter, count=1, timeout_s=30)
        await pub.publish(Stream.SUBMITTED, [good])
        out = await read_events(settings, Stream.PREPARED, ListingPrepared, count=1, timeout_s=30)
    assert len(dead) == 1
    letter = dead[0]
    assert letter.reason == "max_deliveries"
    assert letter.attempts == 3
    assert letter.worker == "crashy"
    assert "cannot handle L-poison" in letter.error
    assert ListingSubmitted.model_validate_json(letter.payload) == poison
    assert [e.listing_id for e in out] == ["L-good"]


@pytest.mark.parametrize(
    ("fields", "expected_error"),
    [
        ({"__data__": b"this is not json"}, "Invalid JSON"),
        ({"__data__": b'{"listing_id": "L1", "title": 3}'}, "submission_id"),
    ],
)
async def test_invalid_payload_is_dead_lettered_at_once(
    redis_prefix: str, fields: dict[str, bytes], expected_error: str
) -> None:
    settings = settings_for(redis_prefix, reclaim_idle_ms=60_000)
    worker = create_worker(settings)
    async with worker.running(), EventPublisher(settings) as pub:
        await pub.redis.xadd(settings.key(Stream.SUBMITTED), fields)  # type: ignore[arg-type]
        await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("L-after", "ok")])
        dead = await read_events(settings, Stream.DEAD, DeadLetter, count=1, timeout_s=20)
        out = await read_events(settings, Stream.PREPARED, ListingPrepared, count=1, timeout_s=20)
        pending = await pub.redis.xpending(settings.key(Stream.SUBMITTED), "crashy")
    assert len(dead) == 1
    assert dead[0].reason == "invalid_payload"
    assert dead[0].attempts == 1
    assert expected_error in dead[0].error
    assert dead[0].payload == fields["__data__"].decode()
    assert [e.listing_id for e in out] == ["L-after"]
    assert pending["pending"] == 0
