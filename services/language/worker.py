"""The language worker: ``listings.submitted`` -> ``listings.prepared`` (``catalog worker language``).

The handler only translates events to :class:`Preparer` calls; all logic lives in ``logic.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from shared.broker import Consumer, Emit, Outcome, WorkerApp, WorkerSpec
from shared.config import Settings
from shared.contract import ListingSubmitted, Stream

from .logic import Preparer


@dataclass
class Deps:
    """Built once per process: the preparer holds the detector and the translation client."""

    preparer: Preparer


async def prepare(events: list[ListingSubmitted], deps: Deps) -> list[Outcome]:
    """Cleans, detects the language and translates non-French offers to French."""
    prepared = await deps.preparer.prepare(events)
    return [Emit(Stream.PREPARED, event) for event in prepared]


async def open_deps(settings: Settings, redis: Redis) -> Deps:
    # The worker's Redis client backs the translation cache (keys under the prefix).
    return Deps(Preparer.from_settings(settings, redis))


async def close_deps(deps: Deps) -> None:
    deps.preparer.close()


SPEC = WorkerSpec(
    name="language",
    consumes=(Consumer(Stream.SUBMITTED, ListingSubmitted, prepare),),
    publishes=(Stream.PREPARED,),
    open=open_deps,
    close=close_deps,
    image="slim",
    description="Cleans the text, detects its language and translates non-French offers to French.",
)


def create_worker(settings: Settings) -> WorkerApp:
    """A worker that prepares submitted offers in batches of ``settings.batch_size``."""
    return WorkerApp.from_spec(SPEC, settings)
