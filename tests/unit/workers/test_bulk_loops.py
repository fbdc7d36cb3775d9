"""The bulk lane's own read loops end when the worker stops, even when the cancellation that
should have ended them was lost (redis-py's read timeout can swallow one that lands as it
expires: a worker then hung at shutdown)."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.broker import Outcome
from shared.broker.bulk import BulkLanes
from shared.broker.entries import Source
from shared.broker.lanes import LiveFirst
from shared.config import Settings
from shared.contract import ListingSubmitted, Stream


class QuietRedis:
    """A Redis with nothing to read and nothing to reclaim."""

    async def xautoclaim(self, *args: Any, **kwargs: Any) -> list[Any]:
        return [b"0-0", []]

    async def xreadgroup(self, *args: Any, **kwargs: Any) -> list[Any]:
        await asyncio.sleep(0.01)
        return []


class Loops(BulkLanes):
    def __init__(self) -> None:
        self.name = "kind"
        self.consumer = "kind-1"
        self.settings = Settings(reclaim_idle_ms=200)
        self.priority = LiveFirst()
        self._redis = QuietRedis()

    @property
    def redis(self) -> Any:
        return self._redis


async def test_bulk_loops_end_once_the_worker_stops_without_a_cancellation() -> None:
    loops = Loops()
    source = Source(Stream.SUBMITTED, "bulk", "p:listings.submitted.bulk")

    async def never_called(events: list[ListingSubmitted]) -> list[Outcome]:
        raise AssertionError("nothing to handle")

    tasks = [
        asyncio.create_task(loops._read_bulk(source, ListingSubmitted, never_called, 8)),
        asyncio.create_task(loops._reclaim_bulk(source, ListingSubmitted, never_called)),
    ]
    await asyncio.sleep(0.1)
    assert not any(t.done() for t in tasks)  # they poll for ever while the worker runs
    loops.bulk_stopping = True  # what WorkerApp._stop_tasks sets before cancelling
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
