"""Translation to French: chunking, cache, rate limit, timeouts, retries with backoff and jitter.

Calls go through deep-translator's blocking clients in a thread pool. A Redis cache keyed by
text hash + provider + target means bulk reclassification never pays twice for the same text.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from shared.config import Settings
from shared.logging import log_event

from .chunking import chunk_text
from .providers import NON_RETRYABLE, PROVIDERS, REQUEST_TIMEOUT, build_client

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


def backoff_delay(attempt: int, base_s: float, rng: random.Random) -> float:
    """Exponential backoff with equal jitter: half fixed, half random (spreads retry storms)."""
    step = min(MAX_BACKOFF_S, base_s * (2**attempt))
    return step / 2 + rng.uniform(0, step / 2)


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
        rng: random.Random | None = None,
    ) -> None:
        if settings.translator not in PROVIDERS:
            raise ValueError(f"translator {settings.translator!r} does not translate")
        self.settings = settings
        self.provider = settings.translator
        self.spec = PROVIDERS[self.provider]
        self.redis = redis
        self.concurrency = concurrency
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._limiter = RateLimiter(settings.translation_rate_limit_per_s)
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="translate")
        self._rng = rng or random.Random()
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
        retries = self.settings.translation_max_retries
        for attempt in range(retries + 1):
            try:
                async with self._semaphore():
                    await self._limiter.acquire()
                    return await self._call(chunk, language)
            except NON_RETRYABLE as exc:
                raise TranslationError(_reason(exc)) from exc
            except Exception as exc:
                if attempt >= retries:
                    raise TranslationError(
                        f"{self.provider} failed after {attempt + 1} attempts: {_reason(exc)}"
                    ) from exc
                delay = backoff_delay(attempt, self.settings.translation_backoff_s, self._rng)
                log_event(
                    log,
                    "translation attempt failed",
                    logging.WARNING,
                    provider=self.provider,
                    attempt=attempt + 1,
                    retry_in_s=round(delay, 3),
                    error=_reason(exc),
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _call(self, chunk: str, language: str) -> str:
        """One HTTP call in a worker thread, bounded by the timeout twice over: on the socket
        (so the thread is freed) and here (so the event loop never waits longer)."""
        self.calls += 1
        timeout = self.settings.translation_timeout_s
        client = build_client(
            self.provider, language, self.settings.translator_url, self.settings.translator_api_key
        )
        context = contextvars.copy_context()
        context.run(REQUEST_TIMEOUT.set, timeout)
        call = functools.partial(context.run, client.translate, chunk)
        future = asyncio.get_running_loop().run_in_executor(self._executor, call)
        result = await asyncio.wait_for(future, timeout=2 * timeout + 1)
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
