"""The translation clients against the local stand-in server (real HTTP, real Redis for the
cache): chunking, retries, cache, outage in both failure modes, timeouts. A configured
``translator_url`` is served by the httpx client of ``providers.py``."""

from __future__ import annotations

import asyncio
import time

import deep_translator.google
import deep_translator.libre
import deep_translator.mymemory
import pytest
import requests

from services.language.logic import Preparer, TranslationUnavailable
from shared.config import Settings
from shared.contract import ListingSubmitted
from tests.conftest import REDIS_URL
from tools.standins.translator import StandinTranslator

ENGLISH = "Brand new box never opened, complete with the manual and the game."


def settings_for(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "translator": "google",
        "translator_url": url,
        "translation_backoff_s": 0.01,
        "translation_timeout_s": 5.0,
        "translation_max_retries": 2,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def prepare_one(settings: Settings, title: str, description: str | None = None, redis=None):  # type: ignore[no-untyped-def]
    preparer = Preparer.from_settings(settings, redis)
    try:
        return (await preparer.prepare([ListingSubmitted.new("1", title, description)]))[0]
    finally:
        preparer.close()


@pytest.mark.parametrize("provider", ["google", "libre", "mymemory"])
async def test_each_provider_protocol(standin: StandinTranslator, provider: str) -> None:
    prepared = await prepare_one(settings_for(standin.url, translator=provider), ENGLISH)
    assert prepared.language.code == "en"
    assert prepared.translation.status == "translated"
    assert prepared.translation.provider == provider
    assert prepared.text == ENGLISH
    assert prepared.text_fr == "Brand neuf boîte jamais ouverte, complète avec le notice et le jeu."
    assert standin.state.calls == 1


async def test_french_and_unknown_text_are_never_sent(standin: StandinTranslator) -> None:
    preparer = Preparer.from_settings(settings_for(standin.url))
    events = [ListingSubmitted.new("1", "Boîte neuve jamais ouverte, complète avec sa notice"),
              ListingSubmitted.new("2", "75192")]  # fmt: skip
    results = await preparer.prepare(events)
    preparer.close()
    assert [r.translation.status for r in results] == ["not_needed", "not_needed"]
    assert standin.state.calls == 0


@pytest.mark.parametrize(("provider", "limit"), [("google", 5000), ("mymemory", 500)])
async def test_12k_html_description_is_chunked_under_the_limit(
    standin: StandinTranslator, provider: str, limit: int
) -> None:
    sentence = "The new game is complete with the manual and the box. "
    description = "<div>" + "".join(f"<p>{sentence}<b>{i}</b>.</p>" for i in range(200)) + "</div>"
    assert len(description) > 12_000
    settings = settings_for(standin.url, translator=provider, max_text_chars=20_000)
    prepared = await prepare_one(settings, "Board game for the garden", description)
    assert prepared.translation.status == "translated"
    assert len(prepared.text) > 10_000 and not prepared.text_truncated
    sent = standin.state.texts
    assert len(sent) >= len(prepared.text) // limit + 1
    assert all(len(t) < limit for t in sent)
    # Chunks go out concurrently: nothing lost, nothing cut inside a sentence, order restored.
    assert all(t in prepared.text and t.endswith(".") for t in sent)
    assert sum(len(t) for t in sent) + len(sent) - 1 == len(prepared.text)
    assert prepared.text_fr.startswith("Board jeu pour le jardin . le neuf jeu is complète")
    assert prepared.text_fr.endswith("le neuf jeu is complète avec le notice et le boîte. 199 .")


async def test_transient_failures_are_retried(standin: StandinTranslator) -> None:
    standin.state.fail_next = 2
    prepared = await prepare_one(settings_for(standin.url, translation_max_retries=2), ENGLISH)
    assert prepared.translation.status == "translated"
    assert (standin.state.calls, standin.state.failures) == (3, 2)


async def test_retries_wait_with_backoff_then_succeed(standin: StandinTranslator) -> None:
    standin.state.fail_next, standin.state.fail_status = 2, 500
    settings = settings_for(standin.url, translation_backoff_s=0.2, translation_max_retries=3)
    started = time.monotonic()
    prepared = await prepare_one(settings, ENGLISH)
    assert prepared.translation.status == "translated"
    assert (standin.state.calls, standin.state.failures) == (3, 2)
    assert time.monotonic() - started >= 0.1 + 0.2  # at least half of 0.2 s, then of 0.4 s


async def test_rejected_requests_are_not_retried(standin: StandinTranslator) -> None:
    standin.state.fail_next, standin.state.fail_status = 1, 400
    prepared = await prepare_one(settings_for(standin.url, translation_max_retries=3), ENGLISH)
    assert prepared.translation.status == "failed"
    assert "ProviderRejected: HTTP 400" in (prepared.translation.reason or "")
    assert standin.state.calls == 1


def test_deep_translator_is_left_as_published() -> None:
    """No replaced module attributes: the library's own ``requests`` is what it calls."""
    for module in (deep_translator.google, deep_translator.libre, deep_translator.mymemory):
        assert module.requests is requests


async def test_rate_limited_answers_are_retried(standin: StandinTranslator) -> None:
    standin.state.fail_next, standin.state.fail_status = 1, 429
    prepared = await prepare_one(settings_for(standin.url), ENGLISH)
    assert prepared.translation.status == "translated"
    assert standin.state.calls == 2


async def test_second_call_hits_the_redis_cache(standin: StandinTranslator, redis_prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        settings = settings_for(standin.url, redis_url=REDIS_URL, stream_prefix=redis_prefix)
        first = await prepare_one(settings, ENGLISH, redis=client)
        second = await prepare_one(settings, ENGLISH, redis=client)  # a fresh Preparer: Redis only
        assert (first.translation.status, second.translation.status) == ("translated", "cached")
        assert second.text_fr == first.text_fr
        assert standin.state.calls == 1
        keys = [k.decode() async for k in client.scan_iter(match=f"{redis_prefix}translation:*")]
        assert len(keys) == 1 and keys[0].startswith(f"{redis_prefix}translation:google:fr:")
        # The one call was booked on the rate schedule every replica shares.
        assert await client.exists(f"{redis_prefix}ratelimit:translation:google")
        assert 0 < await client.ttl(keys[0]) <= settings.translation_cache_ttl_s
    finally:
        await client.aclose()


async def test_identical_texts_in_a_batch_are_translated_once(standin: StandinTranslator) -> None:
    preparer = Preparer.from_settings(settings_for(standin.url))
    events = [ListingSubmitted.new(str(i), ENGLISH) for i in range(5)]
    results = await preparer.prepare(events)
    preparer.close()
    assert {r.text_fr for r in results} == {results[0].text_fr}
    assert standin.state.calls == 1


async def test_provider_down_degrades_to_the_original_text(standin: StandinTranslator) -> None:
    standin.state.down = True
    prepared = await prepare_one(settings_for(standin.url, translation_max_retries=2), ENGLISH)
    assert prepared.translation.status == "failed"
    assert prepared.translation.provider == "google"
    assert "after 3 attempts" in (prepared.translation.reason or "")
    assert prepared.text_fr == prepared.text == ENGLISH
    assert prepared.language.code == "en"
    assert standin.state.calls == 3


async def test_unreachable_provider_degrades() -> None:
    server = StandinTranslator().start()
    url = server.url
    server.stop()  # nothing listens on that port any more: connection refused
    prepared = await prepare_one(settings_for(url, translation_max_retries=1), ENGLISH)
    assert prepared.translation.status == "failed"
    assert "ConnectionError" in (prepared.translation.reason or "")


async def test_outage_with_retry_policy_raises_so_the_message_stays_pending(
    standin: StandinTranslator,
) -> None:
    standin.state.down = True
    settings = settings_for(standin.url, translation_on_failure="retry", translation_max_retries=1)
    with pytest.raises(TranslationUnavailable, match="after 2 attempts"):
        await prepare_one(settings, ENGLISH)


async def test_slow_provider_times_out(standin: StandinTranslator) -> None:
    standin.state.delay_s = 2.0
    settings = settings_for(standin.url, translation_timeout_s=0.2, translation_max_retries=0)
    prepared = await prepare_one(settings, ENGLISH)
    assert prepared.translation.status == "failed"
    assert "Timeout" in (prepared.translation.reason or "")


async def test_translation_finishes_within_its_budget_before_the_reclaimer(
    standin: StandinTranslator,
) -> None:
    standin.state.delay_s = 2.0
    settings = settings_for(standin.url, reclaim_idle_ms=500, translation_timeout_s=5.0)
    prepared = await prepare_one(settings, ENGLISH)
    assert prepared.translation.status == "failed"
    assert "budget of 0.4 s" in (prepared.translation.reason or "")


def test_one_preparer_serves_several_event_loops(standin: StandinTranslator) -> None:
    """The CLI may call asyncio.run repeatedly; many concurrent chunks make the pool wait."""
    text = "The new game is complete with the manual and the box. " * 150  # ~17 MyMemory chunks
    preparer = Preparer.from_settings(settings_for(standin.url, translator="mymemory", max_text_chars=10_000))
    try:
        for i in range(2):
            (prepared,) = asyncio.run(preparer.prepare([ListingSubmitted.new(str(i), "Game", text)]))
            assert prepared.translation.status == "translated"
    finally:
        preparer.close()
    assert standin.state.calls >= 2 * 17


async def test_rate_limit_is_shared_by_every_replica(redis_prefix: str) -> None:
    """Defect 9: two replicas (two limiters, one Redis key) book calls on one schedule, so N
    replicas never use N times the provider's quota."""
    import redis.asyncio as aioredis

    from services.language.ratelimit import SharedRateLimiter
    from services.language.translate import RateLimiter

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        key = f"{redis_prefix}ratelimit:translation:test"
        replicas = [SharedRateLimiter(client, key, 2.0, RateLimiter(2.0)) for _ in range(2)]
        delays = [await replicas[i % 2].reserve() for i in range(6)]
        # Burst of 2, then one call per 0.5 s on ONE schedule: the 6th call waits about 2 s
        # (a limiter per replica would let each make its 3 calls with at most 0.5 s of wait).
        assert delays[:2] == [0.0, 0.0]
        assert delays[5] > 1.5
        assert delays == sorted(delays)
    finally:
        await client.aclose()
