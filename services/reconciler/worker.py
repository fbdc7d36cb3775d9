"""The reconciler worker (``catalog worker reconciler``): finds submissions lost by Redis.

Consumes no stream: every ``CATALOG_RECONCILE_INTERVAL_S`` it runs one pass of
:func:`services.reconciler.reconciler.reconcile_once` (close what was predicted or dead-lettered,
re-publish what is overdue with the same submission id). Registered like every worker, so
``catalog up``, compose and Kubernetes run it; one replica is enough (passes are idempotent).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from redis.asyncio import Redis

from shared.broker import EventPublisher, WorkerApp, WorkerSpec
from shared.config import Settings
from shared.contract import Stream
from shared.db.session import migrate

from .reconciler import PassReport, reconcile_once

log = logging.getLogger(__name__)


@dataclass
class Deps:
    """One reconcile pass (bound to the settings and the publisher re-publishing overdue offers),
    the pause between passes and what to close at the end."""

    reconcile: Callable[[], Awaitable[PassReport]]
    interval_s: float
    resources: AsyncExitStack = field(default_factory=AsyncExitStack)


async def open_deps(settings: Settings, redis: Redis) -> Deps:
    await asyncio.to_thread(migrate, settings.effective_database_url)
    resources = AsyncExitStack()
    publisher = await resources.enter_async_context(EventPublisher(settings))

    async def reconcile() -> PassReport:
        return await reconcile_once(settings, publisher, settings.reconcile_after_s)

    return Deps(reconcile, settings.reconcile_interval_s, resources)


async def close_deps(deps: Deps) -> None:
    await deps.resources.aclose()


async def reconcile_forever(deps: Deps) -> None:
    """One pass per interval; a failed pass (Redis or the database down) is retried next tick."""
    while True:
        try:
            await deps.reconcile()
        except Exception as exc:
            log.warning("reconcile pass failed; retrying", extra={"error": f"{type(exc).__name__}: {exc}"})
        await asyncio.sleep(deps.interval_s)


SPEC = WorkerSpec(
    name="reconciler",
    consumes=(),
    publishes=(Stream.SUBMITTED,),
    open=open_deps,
    close=close_deps,
    background=reconcile_forever,
    description="Re-publishes submissions that have neither a prediction nor a dead letter after a deadline.",
)


def create_worker(settings: Settings) -> WorkerApp:
    """The reconciler: one pass every CATALOG_RECONCILE_INTERVAL_S."""
    return WorkerApp.from_spec(SPEC, settings)
