"""Pure parts of translation: backoff, rate limiter arithmetic, provider codes, clients."""

from __future__ import annotations

import pytest
from tenacity import AsyncRetrying, RetryCallState

from services.language.providers import PROVIDERS, HTTPTranslator, build_client, source_code
from services.language.translate import MAX_BACKOFF_S, RateLimiter, backoff_wait


def delay_after(failures: int, base_s: float) -> float:
    """The wait tenacity would apply after the ``failures``-th failed attempt."""
    state = RetryCallState(AsyncRetrying(), None, (), {})
    state.attempt_number = failures
    return backoff_wait(base_s)(state)


def test_backoff_grows_exponentially_with_jitter() -> None:
    for failures in range(1, 9):  # the first retry waits between base/2 and base
        step = min(MAX_BACKOFF_S, 0.5 * 2 ** (failures - 1))
        delays = {delay_after(failures, 0.5) for _ in range(50)}
        assert all(step / 2 <= d <= step for d in delays)
        assert len(delays) > 1  # jittered


def test_backoff_is_capped() -> None:
    assert delay_after(31, 1.0) <= MAX_BACKOFF_S


def test_a_configured_url_gets_the_http_client_else_deep_translator() -> None:
    client = build_client("google", "de", "http://127.0.0.1:1/", None)
    assert isinstance(client, HTTPTranslator) and (client.source, client.target) == ("de", "fr")
    assert type(build_client("google", "de", None, None)).__name__ == "GoogleTranslator"
    assert type(build_client("libre", "de", None, None)).__name__ == "LibreTranslator"
    assert type(build_client("mymemory", "de", None, None)).__name__ == "MyMemoryTranslator"


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
