"""Translation to French: chunking, cache, rate limit, timeouts, retries with backoff and jitter.

Calls go through blocking clients (``providers.py``) in a thread pool; retries are tenacity's.
A Redis cache keyed by text hash + provider + target means bulk reclassification never pays
twice for the same text.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from redis.asyncio import Redis as AsyncRedis
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from shared.config import Settings
from shared.logging import log_event

from .chunking import chunk_text
from .providers import NON_RETRYABLE, PROVIDERS, HTTPTranslator, build_client
from .ratelimit import SharedRateLimiter

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0

Status = Literal["translated", "cached", "failed"]


@dataclass(frozen=True)
class TranslationResult:
    text: str
    """The French text, or the input when translation failed."""
    status: Status
    reason: str | None = None


class TranslationError(Exception):
    """A provider failed for good (after retries, or on an error retries cannot fix)."""


class RateLimiter:
    """At most ``rate`` calls per second on average, bursts up to ``rate`` (GCRA)."""

    def __init__(
        self,
        rate_per_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / rate_per_s
        self.burst = max(1.0, rate_per_s)
        self._clock, self._sleep = clock, sleep
        self._tat = 0.0  # theoretical arrival time of the next call

    def reserve(self) -> float:
        """Book the next call; how long to wait before making it."""
        now = self._clock()
        tat = max(self._tat, now)
        self._tat = tat + self.interval
        return max(0.0, tat - now - (self.burst - 1) * self.interval)

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await self._sleep(delay)


def backoff_wait(base_s: float) -> wait_base:
    """Exponential backoff with equal jitter, as a tenacity wait: the n-th retry waits between
    half and all of ``base_s * 2**(n-1)`` (capped at :data:`MAX_BACKOFF_S`). The fixed half keeps
    the delay growing; the random half spreads the retries of many callers (no retry storms)."""
    half, cap = base_s / 2, MAX_BACKOFF_S / 2
    return wait_exponential(multiplier=half, max=cap) + wait_random_exponential(multiplier=half, max=cap)


def _retryable(exc: BaseException) -> bool:
    """Every failure but bad input or configuration; never cancellation (tenacity sees
    ``BaseException`` too, and a cancelled task must stop, not retry)."""
    return isinstance(exc, Exception) and not isinstance(exc, NON_RETRYABLE)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


class TextTranslator:
    """Translates texts with the configured provider; never raises for a provider failure:
    each result says ``failed`` with the reason, and the caller decides (degrade or retry)."""

    def __init__(
        self,
        settings: Settings,
        redis: Any | None = None,
        concurrency: int = 8,
    ) -> None:
        if settings.translator not in PROVIDERS:
            raise ValueError(f"translator {settings.translator!r} does not translate")
        self.settings = settings
        self.provider = settings.translator
        self.spec = PROVIDERS[self.provider]
        self.redis = redis
        self.concurrency = concurrency
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        local = RateLimiter(settings.translation_rate_limit_per_s)
        self._limiter: RateLimiter | SharedRateLimiter = local
        if isinstance(redis, AsyncRedis):  # replicas share the provider's quota
            key = settings.key(f"ratelimit:translation:{self.provider}")
            self._limiter = SharedRateLimiter(redis, key, settings.translation_rate_limit_per_s, local)
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="translate")
        self._http: httpx.Client | None = None
        if settings.translator_url:  # one pool of keep-alive connections, timeouts on every socket
            limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            self._http = httpx.Client(timeout=settings.translation_timeout_s, limits=limits)
        self.calls = 0
        """HTTP calls made (attempts included), for benchmarks and logs."""

    def cache_key(self, text: str) -> str:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return self.settings.key(f"translation:{self.provider}:{self.spec.target}:{digest}")

    def _semaphore(self) -> asyncio.Semaphore:
        """One per event loop: a Preparer may serve several ``asyncio.run`` calls (CLI)."""
        loop = asyncio.get_running_loop()
        if loop not in self._semaphores:
            self._semaphores = {loop: asyncio.Semaphore(self.concurrency)}
        return self._semaphores[loop]

    async def translate_many(
        self, items: Sequence[tuple[str, str]], budget_s: float | None = None
    ) -> list[TranslationResult]:
        """One result per ``(text, source language)``; identical texts are translated once.

        Texts still in flight after ``budget_s`` fail with that reason (a worker must finish a
        batch before the reclaimer hands it to another consumer).
        """
        unique: dict[str, str] = {}
        for text, language in items:
            unique.setdefault(text, language)
        texts = list(unique)
        cached = await self._cache_get(texts)
        results: dict[str, TranslationResult] = {
            t: TranslationResult(c, "cached") for t, c in zip(texts, cached, strict=True) if c is not None
        }
        misses = [t for t in texts if t not in results]
        fresh = await self._translate_all(misses, unique, budget_s)
        results.update(zip(misses, fresh, strict=True))
        await self._cache_set({t: r.text for t, r in zip(misses, fresh, strict=True) if r.status != "failed"})
        return [results[text] for text, _ in items]

    async def _translate_all(
        self, texts: list[str], languages: dict[str, str], budget_s: float | None
    ) -> list[TranslationResult]:
        if not texts:
            return []
        tasks = [asyncio.ensure_future(self._translate_text(t, languages[t])) for t in texts]
        done, late = await asyncio.wait(tasks, timeout=budget_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)
        reason = f"translation took longer than its budget of {budget_s} s"
        return [
            task.result() if task in done else TranslationResult(text, "failed", reason)
            for task, text in zip(tasks, texts, strict=True)
        ]

    async def _translate_text(self, text: str, language: str) -> TranslationResult:
        chunks = chunk_text(text, self.spec.max_chars)
        failure: str | None = None
        try:  # a TaskGroup stops the other chunks as soon as one fails for good
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._call_with_retries(c, language)) for c in chunks]
        except* TranslationError as errors:
            failure = str(errors.exceptions[0])
        if failure is not None:
            return TranslationResult(text, "failed", failure)
        return TranslationResult(" ".join(t.result().strip() for t in tasks), "translated")

    async def _call_with_retries(self, chunk: str, language: str) -> str:
        """``_call`` with up to ``translation_max_retries`` retries (5xx, 429, timeouts, network),
        spaced by :func:`backoff_wait`; bad input or configuration fails at once."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.translation_max_retries + 1),
            wait=backoff_wait(self.settings.translation_backoff_s),
            retry=retry_if_exception(_retryable),
            before_sleep=self._log_retry,
        )
        try:
            return await retrying(self._attempt, chunk, language)
        except RetryError as exc:
            last = exc.last_attempt
            error = last.exception()
            raise TranslationError(
                f"{self.provider} failed after {last.attempt_number} attempts: {_reason(error or exc)}"
            ) from error
        except NON_RETRYABLE as exc:
            raise TranslationError(_reason(exc)) from exc

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log_event(
            log,
            "translation attempt failed",
            logging.WARNING,
            provider=self.provider,
            attempt=state.attempt_number,
            retry_in_s=round(state.next_action.sleep if state.next_action else 0.0, 3),
            error=_reason(error) if error else None,
        )

    async def _attempt(self, chunk: str, language: str) -> str:
        async with self._semaphore():
            await self._limiter.acquire()
            return await self._call(chunk, language)

    async def _call(self, chunk: str, language: str) -> str:
        """One HTTP call in a worker thread. A self-hosted provider's socket has its own timeout
        (so the thread is freed) and this wait is only a safety net; deep-translator's clients
        take no timeout, so for them this wait is the bound (the thread lingers until the call
        returns)."""
        self.calls += 1
        timeout = self.settings.translation_timeout_s
        client = build_client(
            self.provider,
            language,
            self.settings.translator_url,
            self.settings.translator_api_key,
            http=self._http,
        )
        bound = 2 * timeout + 1 if isinstance(client, HTTPTranslator) else timeout
        future = asyncio.get_running_loop().run_in_executor(self._executor, client.translate, chunk)
        result = await asyncio.wait_for(future, timeout=bound)
        if not isinstance(result, str) or not result.strip():
            raise ValueError("provider returned no translation")
        return result

    async def _cache_get(self, texts: list[str]) -> list[str | None]:
        if self.redis is None or not texts:
            return [None] * len(texts)
        try:
            values = await self.redis.mget([self.cache_key(t) for t in texts])
        except Exception as exc:  # a cache outage must not stop translation
            log_event(log, "translation cache read failed", logging.WARNING, error=_reason(exc))
            return [None] * len(texts)
        return [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]

    async def _cache_set(self, translated: dict[str, str]) -> None:
        if self.redis is None or not translated:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for text, french in translated.items():
                    pipe.set(
                        self.cache_key(text), french.encode("utf-8"), ex=self.settings.translation_cache_ttl_s
                    )
                await pipe.execute()
        except Exception as exc:
            log_event(log, "translation cache write failed", logging.WARNING, error=_reason(exc))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._http is not None:
            self._http.close()
