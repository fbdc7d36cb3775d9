"""A dependency outage does not consume deliveries (docs/architecture.md §3, "Outages").

When a handler fails because SQL, Redis, Triton or the translator is unreachable
(:func:`shared.dependencies.dependency_of`), the batch is not at fault: counting the failure
as a delivery would dead-letter every offer in flight once an outage outlasts
``reclaim_idle_ms`` x ``max_deliveries``. Instead the reader *holds* the batch: its entries stay
pending and owned by this consumer, their idle time is reset every few hundred milliseconds
(``XCLAIM ... JUSTID``, which leaves the delivery count untouched) so no reclaimer takes them,
and the handler is re-run with exponential backoff (0.5 s doubling to 30 s). The reader takes
nothing new meanwhile (a live batch held also keeps bulk reads waiting), the worker's
``/readyz`` fails with the outage and ``catalog_dependency_up{dependency=...}`` is 0.

The one way out other than success: the same kind of failure again while the dependency
answers its probe (``SELECT 1`` for SQL, ``PING`` for Redis; for a dependency without a probe:
another batch of this worker succeeded since this one's last failure). The dependency then
works and the batch is what fails: it is raised like any failure and counts a delivery, so an
entry that breaks a connection every time is still dead-lettered after ``max_deliveries``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from redis.asyncio import Redis
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from shared.broker.entries import RawEntry, Source
from shared.broker.spec import Outcome
from shared.config import Settings
from shared.dependencies import dependency_of
from shared.metrics import DEPENDENCY_UP

log = logging.getLogger("shared.broker")

T = TypeVar("T")
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0


class Outages:
    """The dependencies a worker found down, for its health check and gauge."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.down: dict[str, str] = {}
        self.successes = 0
        """Handler runs that succeeded in this process (tells "the dependency is back")."""
        self.probes: dict[str, Callable[[], Awaitable[object]]] = {}
        """Per dependency, a call that raises while it is down."""

    async def works(self, dependency: str, successes_at_failure: int) -> bool:
        """Whether ``dependency`` answers now (see the module docstring)."""
        probe = self.probes.get(dependency)
        if probe is None:
            return self.successes != successes_at_failure
        try:
            await asyncio.wait_for(probe(), 10.0)
        except Exception:
            return False
        return True

    def record_down(self, dependency: str, error: str) -> None:
        if dependency not in self.down:
            log.warning(
                "dependency %s unavailable: holding work and retrying with backoff: %s",
                dependency,
                error,
                extra={"worker": self.worker, "dependency": dependency, "error": error[:500]},
            )
        self.down[dependency] = error
        DEPENDENCY_UP.labels(worker=self.worker, dependency=dependency).set(0)

    def record_up(self, dependency: str) -> None:
        if self.down.pop(dependency, None) is not None:
            log.info(
                "dependency %s back", dependency, extra={"worker": self.worker, "dependency": dependency}
            )
        DEPENDENCY_UP.labels(worker=self.worker, dependency=dependency).set(1)

    async def check(self) -> None:
        """The readiness check: raises while a dependency is down."""
        if self.down:
            reasons = "; ".join(f"{name}: {error[:200]}" for name, error in sorted(self.down.items()))
            raise RuntimeError(f"dependency unavailable ({reasons})")


async def run_holding(
    outages: Outages,
    redis: Redis,
    source: Source,
    group: str,
    consumer: str,
    raws: Sequence[RawEntry],
    run: Callable[[], Awaitable[Sequence[Outcome]]],
    refresh_s: float,
    stopping: Callable[[], bool] = lambda: False,
) -> Sequence[Outcome]:
    """``run()``, re-run while it fails with a dependency outage (see the module docstring).

    A stopping worker gives the batch up (raises): it stays pending for the next consumer."""
    delay = BACKOFF_START_S
    failing: str | None = None
    successes_at_failure = -1
    while True:
        try:
            outcomes = await run()
        except Exception as exc:
            dependency = dependency_of(exc)
            if dependency is None or stopping():
                raise
            if failing == dependency and await outages.works(dependency, successes_at_failure):
                # The dependency works, the batch still fails: the batch is at fault.
                outages.record_up(dependency)
                raise
            failing, successes_at_failure = dependency, outages.successes
            outages.record_down(dependency, f"{type(exc).__name__}: {exc}")
            await _hold(redis, source, group, consumer, raws, delay, refresh_s)
            delay = min(delay * 2, BACKOFF_MAX_S)
            continue
        outages.successes += 1
        if failing is not None:
            outages.record_up(failing)
        return outcomes


async def _hold(
    redis: Redis,
    source: Source,
    group: str,
    consumer: str,
    raws: Sequence[RawEntry],
    seconds: float,
    refresh_s: float,
) -> None:
    """Sleep ``seconds`` keeping ``raws`` claimed by ``consumer`` (idle reset, count unchanged)."""
    ids: list[int | bytes | str | memoryview[int]] = [raw.message_id for raw in raws if raw.message_id]
    until = time.monotonic() + seconds
    while True:
        if ids:
            try:
                await redis.xclaim(source.key, group, consumer, 0, ids, justid=True)
            except Exception as exc:  # Redis itself down: nobody can claim them either
                log.debug("refreshing held entries failed: %s", exc)
        left = until - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(left, refresh_s))


def sql_probe(settings: Settings) -> Callable[[], Awaitable[None]]:
    """``SELECT 1`` on the worker's database (run only after a handler's SQL outage)."""

    async def probe() -> None:
        from sqlalchemy import text

        from shared.db.session import engine_for

        def ping() -> None:
            with engine_for(settings.effective_database_url).connect() as conn:
                conn.execute(text("SELECT 1"))

        await asyncio.to_thread(ping)

    return probe


async def open_waiting(worker: str, opener: Callable[[], Awaitable[T]]) -> T:
    """``opener()`` (a worker's dependencies, at start), retried with backoff (0.5 s to 30 s)
    while it fails with an outage: a worker started while the database is away waits for it
    instead of exiting and crash-looping."""

    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s unavailable at start; worker %s retries in %.1f s (attempt %d): %s",
            dependency_of(error) if error is not None else None,
            worker,
            state.upcoming_sleep,
            state.attempt_number,
            error,
            extra={"worker": worker, "attempt": state.attempt_number},
        )

    async for attempt in AsyncRetrying(
        retry=retry_if_exception(lambda exc: dependency_of(exc) is not None),
        wait=wait_exponential_jitter(multiplier=BACKOFF_START_S, max=BACKOFF_MAX_S),
        before_sleep=log_retry,
        reraise=True,
    ):
        with attempt:
            return await opener()
    raise AssertionError("unreachable: tenacity re-raises the last error")
