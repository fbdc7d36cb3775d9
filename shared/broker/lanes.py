"""The priority lane: live work first, bulk work when no live batch is running.

Every pipeline stream has a bulk twin (``listings.submitted.bulk``, ...; see
:func:`shared.contract.lane_stream`): an event's ``lane`` decides which one it is published on,
and each worker reads both. Separate streams remove the FIFO wait (a live offer never queues
behind the bulk backlog); :class:`LiveFirst` orders the two within a worker process, so that a
live batch waits at most for the one bulk batch already running. Inside that bulk batch, each
model call runs on a chunk of rows (:func:`chunks`) after a :func:`bulk_turn` that waits for
live work, so a live batch waits at most for one bulk model call; :class:`LanePool` and
:func:`lower_thread_priority` order the CPU work of the two lanes on threads.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from shared.config import Settings
from shared.contract import Lane, Stream, lane_stream

T = TypeVar("T")
log = logging.getLogger(__name__)

BULK_CHUNK = 8
"""Rows of a bulk batch per model call: the longest a live batch can wait for bulk model work
already started in its process (a chunk is not interrupted; a whole bulk batch is 32 rows)."""
BULK_NICE = 19
"""The OS nice value of the threads that run bulk model calls (:func:`lower_thread_priority`)."""

_GATE: contextvars.ContextVar[LiveFirst | None] = contextvars.ContextVar("catalog_bulk_gate", default=None)


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
        self._waiting = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def live_running(self) -> int:
        """Live batches being handled now."""
        return self._live

    @property
    def bulk_waiting(self) -> int:
        """Bulk reads and bulk chunks waiting for live batches to end now."""
        return self._waiting

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

    @asynccontextmanager
    async def bulk(self) -> AsyncIterator[None]:
        """Around the handling of one bulk batch: its :func:`bulk_turn` waits on this gate."""
        token = _GATE.set(self)
        try:
            yield
        finally:
            _GATE.reset(token)

    async def before_bulk_read(self) -> None:
        """Return once no live batch runs.

        It first lets the event loop run once: a live read that completed while the last bulk
        batch held the loop starts its batch (and so counts) before the next bulk read.
        """
        await asyncio.sleep(0)
        if not self._live:
            return
        self._waiting += 1
        try:
            while self._live:
                await self._idle.wait()
        finally:
            self._waiting -= 1


def chunks(lane: Lane, rows: int, size: int = BULK_CHUNK) -> list[range]:
    """The row ranges a batch's model calls run on: a live batch whole, a bulk batch in ranges
    of ``size`` rows (each model call of a chunk is one :func:`bulk_turn`)."""
    step = rows if lane == "live" else size
    return [range(start, min(rows, start + step)) for start in range(0, rows, max(1, step))]


async def bulk_turn(lane: Lane) -> None:
    """Before each model call of a batch: a live one goes at once; a bulk one lets the event
    loop run once and, inside a worker (:meth:`LiveFirst.bulk`), waits while a live batch is
    being handled there, so live work started meanwhile goes next and a live batch never waits
    for more than one bulk chunk's model call (issue 27: the text encoder's live batch queued
    behind the bulk batch's tokenisation and ONNX calls). Outside a worker (the online
    classifier, tests) the calls simply follow each other.
    """
    if lane == "live":
        return
    gate = _GATE.get()
    if gate is None:
        await asyncio.sleep(0)
    else:
        await gate.before_bulk_read()


def lower_thread_priority(nice: int = BULK_NICE) -> bool:
    """Lower the calling thread's OS scheduling priority (Linux: per-thread nice); whether it did.

    The threads that run bulk model calls call it once: on a machine whose cores a bulk
    reclassification saturates, a live offer's own CPU work (in this process or another one)
    then preempts the bulk work instead of sharing the cores with it. Threads created by a
    lowered thread inherit its priority (ONNX Runtime's intra-op pool of a session created on
    it). Raising it back needs privileges, so only dedicated threads call this.
    """
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(nice, os.getpriority(os.PRIO_PROCESS, tid)))
        return True
    except (AttributeError, OSError) as exc:  # not Linux, or not permitted: same order, same cores
        log.warning("bulk threads keep the normal priority", extra={"error": str(exc)})
        return False


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
