"""Pure parts of translation: backoff, rate limiter arithmetic, provider codes."""

from __future__ import annotations

import random

import pytest

from services.language.providers import PROVIDERS, source_code
from services.language.translate import MAX_BACKOFF_S, RateLimiter, backoff_delay


def test_backoff_grows_exponentially_with_jitter() -> None:
    rng = random.Random(1)
    for attempt in range(8):
        step = min(MAX_BACKOFF_S, 0.5 * 2**attempt)
        delays = {backoff_delay(attempt, 0.5, rng) for _ in range(50)}
        assert all(step / 2 <= d <= step for d in delays)
        assert len(delays) > 1  # jittered


def test_backoff_is_capped() -> None:
    assert backoff_delay(30, 1.0, random.Random(0)) <= MAX_BACKOFF_S


class FakeClock:
    """Time that only moves when told: the limiter's arithmetic without real waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_rate_limiter_allows_a_burst_then_spaces_calls() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5.0, clock=clock, sleep=clock.sleep)
    for _ in range(15):
        await limiter.acquire()
    # 5 calls of burst, then 10 more at 5/s: 2 seconds of waiting in total.
    assert clock.slept and sum(clock.slept) == pytest.approx(2.0)
    assert clock.now - 100.0 == pytest.approx(2.0)


async def test_rate_limiter_refills_after_idle_time() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock=clock, sleep=clock.sleep)
    for _ in range(2):
        await limiter.acquire()
    clock.now += 10
    for _ in range(2):
        await limiter.acquire()
    assert clock.slept == []


def test_source_codes_per_provider() -> None:
    assert source_code("google", "de") == "de"
    assert source_code("google", "he") == "iw"
    assert source_code("google", "xx-not-a-language") == "auto"
    assert source_code("mymemory", "de") == "de-DE"
    assert source_code("mymemory", "en").startswith("en-")
    assert source_code("libre", "es") == "es"
    assert PROVIDERS["mymemory"].target == "fr-FR"
    assert PROVIDERS["google"].max_chars < 5000
