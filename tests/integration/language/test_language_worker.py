"""The language worker end to end on real Redis: submitted events in, prepared events out,
invalid payloads and hopeless translations dead-lettered, outages survived."""

from __future__ import annotations

from services.language.worker import create_worker
from shared.broker import EventPublisher, read_events
from shared.config import Settings
from shared.contract import DeadLetter, ListingPrepared, ListingSubmitted, Stream
from tests.conftest import REDIS_URL
from tests.waiting import eventually
from tools.standins.translator import StandinTranslator

ENGLISH = "Brand new box never opened, complete with the manual and the game."


def worker_settings(prefix: str, url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "redis_url": REDIS_URL,
        "stream_prefix": prefix,
        "translator": "google",
        "translator_url": url,
        "translation_backoff_s": 0.01,
        "translation_max_retries": 0,
        "reclaim_idle_ms": 200,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def test_submitted_to_prepared_with_dead_letter_for_invalid_payload(
    redis_prefix: str, standin: StandinTranslator
) -> None:
    settings = worker_settings(redis_prefix, standin.url)
    events = [
        ListingSubmitted.new("fr-1", "Boîte neuve jamais ouverte", "<p>Complète avec sa notice</p>"),
        ListingSubmitted.new("en-1", ENGLISH),
        ListingSubmitted.new("de-1", "Neue Box, nie geöffnet, komplett mit Anleitung und Zubehör"),
        ListingSubmitted.new("num-1", "75192"),
    ]
    async with EventPublisher(settings) as pub:
        await pub.publish(Stream.SUBMITTED, events[:2])
        await pub.redis.xadd(settings.key(Stream.SUBMITTED), {"data": b'{"listing_id": ""}'})
        await pub.publish(Stream.SUBMITTED, events[2:])
        async with create_worker(settings).running():
            prepared = await read_events(settings, Stream.PREPARED, ListingPrepared, count=4, timeout_s=20)
            dead = await read_events(settings, Stream.DEAD, DeadLetter, count=1, timeout_s=20)
        pending = await pub.redis.xpending(settings.key(Stream.SUBMITTED), "language")

    by_listing = {p.listing_id: p for p in prepared}
    assert sorted(by_listing) == ["de-1", "en-1", "fr-1", "num-1"]
    assert {p.submission_id for p in prepared} == {e.submission_id for e in events}
    assert (by_listing["fr-1"].language.code, by_listing["fr-1"].translation.status) == ("fr", "not_needed")
    assert by_listing["en-1"].translation.status == "translated"
    assert "boîte" in by_listing["en-1"].text_fr and by_listing["en-1"].text == ENGLISH
    assert by_listing["de-1"].language.code == "de"
    assert by_listing["num-1"].language.code == "unknown"
    assert all({"submitted", "prepared"} <= set(p.timestamps) for p in prepared)
    assert [(d.reason, d.worker, d.stream) for d in dead] == [
        ("invalid_payload", "language", Stream.SUBMITTED)
    ]
    assert dead[0].payload == '{"listing_id": ""}'
    assert pending["pending"] == 0


async def test_outage_with_retry_policy_keeps_messages_until_the_provider_is_back(
    redis_prefix: str, standin: StandinTranslator
) -> None:
    settings = worker_settings(redis_prefix, standin.url, translation_on_failure="retry", max_deliveries=50)
    standin.state.down = True
    event = ListingSubmitted.new("en-1", ENGLISH)
    async with EventPublisher(settings) as pub:
        await pub.publish(Stream.SUBMITTED, [event])
        async with create_worker(settings).running():
            await eventually(
                lambda: standin.state.failures >= 2, timeout_s=20, interval_s=0.02
            )  # tried, left pending, reclaimed
            assert await pub.redis.xlen(settings.key(Stream.PREPARED)) == 0
            standin.state.down = False
            prepared = await read_events(settings, Stream.PREPARED, ListingPrepared, count=1, timeout_s=20)
        dead = await pub.redis.xlen(settings.key(Stream.DEAD))
    assert [p.translation.status for p in prepared] == ["translated"]
    assert prepared[0].submission_id == event.submission_id
    assert dead == 0


async def test_outage_with_degrade_policy_publishes_the_original_text(
    redis_prefix: str, standin: StandinTranslator
) -> None:
    settings = worker_settings(redis_prefix, standin.url, translation_on_failure="degrade")
    standin.state.down = True
    async with EventPublisher(settings) as pub:
        await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("en-1", ENGLISH)])
        async with create_worker(settings).running():
            prepared = await read_events(settings, Stream.PREPARED, ListingPrepared, count=1, timeout_s=20)
    assert prepared[0].translation.status == "failed"
    assert prepared[0].text_fr == ENGLISH


async def test_translator_outage_with_retry_policy_holds_the_message_until_it_is_back(
    redis_prefix: str, standin: StandinTranslator
) -> None:
    """An outage is not a poison message (issue 24): it used to be dead-lettered after
    max_deliveries; now it is held, counted nowhere, and prepared once the translator answers."""
    import asyncio

    settings = worker_settings(
        redis_prefix, standin.url, translation_on_failure="retry", max_deliveries=2, reclaim_idle_ms=100
    )
    standin.state.down = True
    async with EventPublisher(settings) as pub:
        await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("en-1", ENGLISH)])
        worker = create_worker(settings)
        async with worker.running():
            await eventually(lambda: "translator" in worker.outages.down, timeout_s=20)
            await asyncio.sleep(2)  # ten times reclaim_idle_ms x max_deliveries
            assert await pub.redis.xlen(settings.key(Stream.DEAD)) == 0
            assert await pub.redis.xlen(settings.key(Stream.PREPARED)) == 0
            standin.state.down = False
            prepared = await read_events(settings, Stream.PREPARED, ListingPrepared, count=1, timeout_s=60)
        assert await pub.redis.xlen(settings.key(Stream.DEAD)) == 0
    assert [p.listing_id for p in prepared] == ["en-1"]
