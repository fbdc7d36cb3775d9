"""Dead-letter replay, stale consumer cleanup, status, and the embedded Redis."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aredis

from services.cli.operations import collect_status, list_dead_letters, replay_dead_letters
from shared.broker import EventPublisher, ensure_group, read_events, remove_stale_consumers
from shared.config import Settings
from shared.contract import DeadLetter, ListingPrepared, ListingSubmitted, Stream
from tests.conftest import REDIS_URL
from tests.integration.broker.crashy_worker import create_worker


async def test_replay_republishes_valid_dead_letters_and_keeps_invalid(redis_prefix: str) -> None:
    settings = Settings(redis_url=REDIS_URL, stream_prefix=redis_prefix)
    event = ListingSubmitted.new("L-replay", "fixed now")
    valid = DeadLetter(
        stream=str(Stream.SUBMITTED),
        worker="crashy",
        reason="max_deliveries",
        error="RuntimeError: down",
        attempts=5,
        payload=event.model_dump_json(),
    )
    invalid = DeadLetter(
        stream=str(Stream.SUBMITTED),
        worker="crashy",
        reason="invalid_payload",
        error="Invalid JSON",
        attempts=1,
        payload="garbage",
    )
    bulk_event = ListingSubmitted.new("L-bulk", "job offer", lane="bulk")
    bulk = valid.model_copy(update={"lane": "bulk", "payload": bulk_event.model_dump_json()})
    async with EventPublisher(settings) as pub:
        await pub.publish(Stream.DEAD, [valid, invalid, bulk])
    letters = await list_dead_letters(settings)
    assert {d.reason for _, d in letters} == {"max_deliveries", "invalid_payload"}

    replayed, kept = await replay_dead_letters(settings, None)
    assert len(replayed) == 2
    assert len(kept) == 1
    remaining = await list_dead_letters(settings)
    assert [d.payload for _, d in remaining] == ["garbage"]
    resubmitted = await read_events(settings, Stream.SUBMITTED, ListingSubmitted, count=1, timeout_s=5)
    assert resubmitted == [event]
    on_bulk = await read_events(
        settings, Stream.SUBMITTED, ListingSubmitted, count=1, timeout_s=5, lane="bulk"
    )
    assert on_bulk == [bulk_event]  # back on the lane it came from


async def test_stale_consumers_without_pending_are_removed(redis_prefix: str) -> None:
    client = aredis.Redis.from_url(REDIS_URL)
    key = f"{redis_prefix}stream"
    try:
        await ensure_group(client, key, "g")
        await ensure_group(client, key, "g")  # idempotent
        await client.xadd(key, {"x": "1"})
        await client.xadd(key, {"x": "2"})
        await client.xadd(key, {"x": "3"})
        await client.xreadgroup("g", "holder", {key: ">"}, count=1)  # keeps one pending
        await client.xreadgroup("g", "idle", {key: ">"}, count=1)
        await client.xack(key, "g", (await client.xrange(key))[1][0])
        await client.xreadgroup("g", "me", {key: ">"}, count=1)
        await client.xack(key, "g", (await client.xrange(key))[2][0])
        removed = await remove_stale_consumers(client, key, "g", idle_ms=0, keep="me")
        names = {c["name"].decode() for c in await client.xinfo_consumers(key, "g")}
    finally:
        await client.aclose()
    assert removed == ["idle"]
    assert names == {"holder", "me"}


async def test_status_reports_groups_pending_and_dead_letters(redis_prefix: str, tmp_path: Path) -> None:
    settings = Settings(redis_url=REDIS_URL, stream_prefix=redis_prefix, model_repository=tmp_path)
    worker = create_worker(settings)
    async with worker.running():
        async with EventPublisher(settings) as pub:
            await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("L1", "ok")])
            await pub.publish(
                Stream.SUBMITTED, [ListingSubmitted.new(f"B{i}", "ok", lane="bulk") for i in range(2)]
            )
        await read_events(settings, Stream.PREPARED, ListingPrepared, count=1, timeout_s=20)
        await read_events(settings, Stream.PREPARED, ListingPrepared, count=2, timeout_s=20, lane="bulk")
    report = await collect_status(settings)
    lengths = {s["stream"]: s["length"] for s in report["streams"]}
    assert (lengths["listings.submitted"], lengths["listings.submitted.bulk"]) == (1, 2)
    assert "listings.dead.bulk" not in lengths
    for name in ("listings.submitted", "listings.submitted.bulk"):
        submitted = next(s for s in report["streams"] if s["stream"] == name)
        assert [(g["name"], g["pending"]) for g in submitted["groups"]] == [("crashy", 0)]
    assert report["dead_letters"] == 0
    assert report["model"].startswith("none")


async def test_embedded_redis_runs_a_worker(tmp_path: Path) -> None:
    settings = Settings(redis_url=None, var_dir=tmp_path / "var", reclaim_idle_ms=500)
    worker = create_worker(settings)
    assert worker.redis_url.startswith("unix://")
    async with worker.running():
        async with EventPublisher(settings) as pub:
            await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("L-embedded", "offre")])
        out = await read_events(settings, Stream.PREPARED, ListingPrepared, count=1, timeout_s=20)
    assert [e.listing_id for e in out] == ["L-embedded"]
