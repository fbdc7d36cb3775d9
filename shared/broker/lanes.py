"""The priority lane: live work first, bulk work when no live batch is running.

Every pipeline stream has a bulk twin (``listings.submitted.bulk``, ...; see
:func:`shared.contract.lane_stream`): an event's ``lane`` decides which one it is published on,
and each worker reads both. Separate streams remove the FIFO wait (a live offer never queues
behind the bulk backlog); :class:`LiveFirst` orders the two within a worker process, so that a
live batch waits at most for the one bulk batch already running.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from shared.config import Settings
from shared.contract import Lane, Stream, lane_stream

T = TypeVar("T")


def lane_of(event: Any) -> Lane:
    """The lane ``event`` travels in (an object without one: live)."""
    lane = getattr(event, "lane", "live")
    return "bulk" if lane == "bulk" else "live"


def stream_key(settings: Settings, stream: Stream, event: Any) -> str:
    """The Redis key ``event`` is published to on ``stream``: its lane's stream, prefixed."""
    return settings.key(lane_stream(stream, lane_of(event)))


class LiveFirst:
    """Within one worker process: a bulk read waits while any live batch is being handled.

    A live batch starts as soon as it is read (beside at most the bulk batch in progress); the
    bulk subscribers wait *before* reading, so they take no entry while live work runs (an entry
    taken and left waiting would grow idle and be reclaimed, counting a delivery). Under a
    saturating live load bulk work waits: that is the point of the lane.
    """

    def __init__(self) -> None:
        self._live = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def live_running(self) -> int:
        """Live batches being handled now."""
        return self._live

    @asynccontextmanager
    async def live(self) -> AsyncIterator[None]:
        """Around the handling of one live batch."""
        self._live += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._live -= 1
            if self._live == 0:
                self._idle.set()

    async def before_bulk_read(self) -> None:
        """Return once no live batch runs.

        It first lets the event loop run once: a live read that completed while the last bulk
        batch held the loop starts its batch (and so counts) before the next bulk read.
        """
        await asyncio.sleep(0)
        while self._live:
            await self._idle.wait()


class LanePool:
    """Worker threads that take queued live work before queued bulk work.

    A FIFO pool (``ThreadPoolExecutor``) made a live offer's photo wait for the decoding of
    every photo of the bulk batch queued before it (issue 27: the lane's p99 under bulk): a
    live batch in a worker already ran beside the bulk batch in progress, but its CPU work
    queued behind it. Work already running is not interrupted; within a lane, FIFO.
    """

    def __init__(self, workers: int, name: str) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Callable[[], Any], Future[Any]]] = (
            queue.PriorityQueue()
        )
        self._order = itertools.count()
        self._workers, self._name = max(1, workers), name
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()

    def submit(self, lane: Lane, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on a pool thread, live before bulk; its future."""
        self._start()
        future: Future[T] = Future()
        self._queue.put((0 if lane == "live" else 1, next(self._order), fn, future))
        return future

    async def run(self, lane: Lane, fn: Callable[[], T]) -> T:
        """``fn``'s result, awaited from the event loop."""
        return await asyncio.wrap_future(self.submit(lane, fn))

    def _start(self) -> None:
        with self._start_lock:
            while len(self._threads) < self._workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while True:
            _lane, _order, fn, future = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the awaiting caller, as an executor does
                future.set_exception(exc)
