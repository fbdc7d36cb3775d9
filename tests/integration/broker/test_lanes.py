"""The priority lane on a real Redis: a live offer published behind a large bulk backlog is
handled before the backlog drains; bulk outputs, dead letters, reclaim and trimming stay on the
bulk lane's streams."""

from __future__ import annotations

import asyncio

from shared.broker import Emit, EventPublisher, WorkerApp, read_events
from shared.config import Settings
from shared.contract import (
    DeadLetter,
    Language,
    ListingPrepared,
    ListingSubmitted,
    Origin,
    Stream,
    Translation,
)
from tests.integration.broker.crashy_worker import create_worker
from tests.integration.broker.test_delivery import settings_for as delivery_settings
from tests.waiting import eventually

BACKLOG = 500


def settings_for(prefix: str, **overrides: object) -> Settings:
    """test_delivery's settings, with no reclaim unless asked and batches of 10."""
    return delivery_settings(prefix, **{"reclaim_idle_ms": 60_000, "batch_size": 10, **overrides})


def bulk(listing_id: str, title: str = "bulk offer") -> ListingSubmitted:
    return ListingSubmitted.new(listing_id, title, origin=Origin(kind="reclassify"), lane="bulk")


def prepared(event: ListingSubmitted) -> ListingPrepared:
    return ListingPrepared(
        **event.envelope(),
        text=event.title,
        text_fr=event.title,
        language=Language(code="fr", confidence=1.0),
        translation=Translation(status="not_needed"),
    )


async def test_a_live_offer_behind_a_bulk_backlog_goes_first(redis_prefix: str) -> None:
    """Every bulk batch waits until the live offer is handled: on one FIFO stream the live offer
    would sit behind the whole backlog and the first bulk batch would never finish."""
    settings = settings_for(redis_prefix)
    worker = WorkerApp("lanes", settings)
    live_handled = asyncio.Event()
    handled: list[str] = []
    bulk_running = 0
    seen_by_live: dict[str, int] = {}

    @worker.consume(Stream.SUBMITTED, ListingSubmitted, batch=True)
    async def handle(events: list[ListingSubmitted]) -> list[Emit]:
        nonlocal bulk_running
        lanes = {e.lane for e in events}
        assert len(lanes) == 1, "a batch is read from one lane's stream"
        if lanes == {"live"}:
            seen_by_live.update(bulk_running=bulk_running, bulk_handled=len(handled))
            live_handled.set()
        else:
            bulk_running += 1
            try:
                await asyncio.wait_for(live_handled.wait(), 30)
            finally:
                bulk_running -= 1
        handled.extend(e.listing_id for e in events)
        return [Emit(Stream.PREPARED, prepared(e)) for e in events]

    async with EventPublisher(settings) as pub:
        await pub.publish(Stream.SUBMITTED, [bulk(f"b{i}") for i in range(BACKLOG)])
        await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("live-1", "a live offer")])
        assert await pub.redis.xlen(settings.key("listings.submitted.bulk")) == BACKLOG
        assert await pub.redis.xlen(settings.key("listings.submitted")) == 1
        async with worker.running():
            await eventually(lambda: len(handled) == BACKLOG + 1, timeout_s=60)
            # Every entry is acknowledged now: both lanes trim to nothing.
            await worker.trim_streams()
            lengths = [
                await pub.redis.xlen(settings.key(s))
                for s in ("listings.submitted", "listings.submitted.bulk")
            ]
        out_live = await read_events(settings, Stream.PREPARED, ListingPrepared, count=1, timeout_s=5)
        out_bulk = await read_events(
            settings, Stream.PREPARED, ListingPrepared, count=BACKLOG, timeout_s=10, lane="bulk"
        )
    assert handled[0] == "live-1"
    # Behind at most the one bulk batch in progress, never behind a finished one.
    assert seen_by_live["bulk_running"] <= 1 and seen_by_live["bulk_handled"] == 0
    assert lengths == [0, 0]
    assert [e.listing_id for e in out_live] == ["live-1"] and out_live[0].lane == "live"
    assert len(out_bulk) == BACKLOG and {e.lane for e in out_bulk} == {"bulk"}


async def test_a_failing_bulk_offer_is_reclaimed_and_dead_lettered_from_the_bulk_lane(
    redis_prefix: str,
) -> None:
    settings = settings_for(redis_prefix, reclaim_idle_ms=200, max_deliveries=2)
    worker = create_worker(settings)
    poison, good = bulk("b-poison", "always-fail"), bulk("b-good")
    async with worker.running(), EventPublisher(settings) as pub:
        await pub.publish(Stream.SUBMITTED, [poison])
        dead = await read_events(settings, Stream.DEAD, DeadLetter, count=1, timeout_s=30)
        await pub.publish(Stream.SUBMITTED, [good])
        out = await read_events(
            settings, Stream.PREPARED, ListingPrepared, count=1, timeout_s=30, lane="bulk"
        )
        pending = await pub.redis.xpending(settings.key("listings.submitted.bulk"), "crashy")
        live_entries = await pub.redis.xlen(settings.key("listings.submitted"))
    (letter,) = dead
    assert (letter.stream, letter.lane, letter.reason, letter.attempts) == (
        "listings.submitted",
        "bulk",
        "max_deliveries",
        2,
    )
    assert ListingSubmitted.model_validate_json(letter.payload) == poison
    assert [e.listing_id for e in out] == ["b-good"]
    assert pending["pending"] == 0 and live_entries == 0


async def test_an_entry_on_a_bulk_stream_is_bulk_even_without_the_field(redis_prefix: str) -> None:
    """Written by hand (or by an older publisher) without ``lane``: the stream it is on decides,
    so its outputs stay on the bulk lane."""
    settings = settings_for(redis_prefix)
    worker = create_worker(settings)
    offer = ListingSubmitted.new("b-hand", "written by hand")
    assert '"lane"' not in offer.model_dump_json()
    async with worker.running(), EventPublisher(settings) as pub:
        await pub.redis.xadd(settings.key("listings.submitted.bulk"), {"__data__": offer.model_dump_json()})
        out = await read_events(
            settings, Stream.PREPARED, ListingPrepared, count=1, timeout_s=30, lane="bulk"
        )
    assert [(e.listing_id, e.lane) for e in out] == [("b-hand", "bulk")]
