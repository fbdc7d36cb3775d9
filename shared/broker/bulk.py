"""Reading the bulk lane: the helper's own XREADGROUP / XAUTOCLAIM loops.

Why not FastStream subscribers, as on the live lane: a bulk read must wait until no live batch
runs (``shared.broker.lanes.LiveFirst``) *before* it takes entries (an entry taken and left waiting
grows idle, is reclaimed and counts a delivery), and FastStream's subscribers read as soon as
they can, with no public hook before the read. These loops use the same semantics as the live
lane (one group per kind, small batches, ack after the outputs are published, a failed batch
left pending for the reclaimer, dead letter after ``max_deliveries``) and recreate a consumer
group that vanished with Redis's data (NOGROUP) instead of stopping.

Mixed into :class:`shared.broker.app.WorkerApp`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from redis.exceptions import ResponseError

from shared.broker.delivery import WorkerState
from shared.broker.entries import RawEntry, Source, join_group, payload_of, reclaim_poll_ms
from shared.broker.spec import Handler

log = logging.getLogger("shared.broker")

E = TypeVar("E", bound=BaseModel)
READ_BLOCK_MS = 200
"""How long one bulk read waits for entries (the live lane's FastStream polling interval)."""
ERROR_BACKOFF_S = 1.0
"""Pause after a failed read or batch (Redis unreachable, handler error) before the next one."""


class BulkLanes(WorkerState):
    """Reader and reclaimer loops for each bulk lane (``WorkerApp`` provides the state)."""

    bulk_stopping = False
    """Set when the worker stops: the loops end at their next turn even if a cancellation was
    lost (redis-py's read timeout can swallow one that lands as it expires)."""

    async def _handle(
        self, source: Source, event_type: type[E], handler: Handler[E], raws: list[RawEntry], attempts: int
    ) -> None:
        raise NotImplementedError

    async def _rerun(
        self, source: Source, event_type: type[E], handler: Handler[E], raw: RawEntry, attempts: int
    ) -> None:
        raise NotImplementedError

    def run_in_background(self, fn: Callable[[], Awaitable[None]], what: str) -> None:
        raise NotImplementedError

    def _start_bulk_lane(self, source: Source, event_type: type[E], handler: Handler[E], reads: int) -> None:
        self.run_in_background(lambda: self._read_bulk(source, event_type, handler, reads), source.name)
        self.run_in_background(
            lambda: self._reclaim_bulk(source, event_type, handler), f"{source.name}:reclaim"
        )

    async def _read_bulk(self, source: Source, event_type: type[E], handler: Handler[E], reads: int) -> None:
        """New entries, up to ``reads`` at a time, each batch read once no live batch runs."""
        while not self.bulk_stopping:
            await self.priority.before_bulk_read()
            try:
                reply: Any = await self.redis.xreadgroup(
                    self.name, self.consumer, {source.key: ">"}, count=reads, block=READ_BLOCK_MS
                )
                entries = [entry for _key, stream_entries in reply or [] for entry in stream_entries]
                raws = [RawEntry(_text(mid), payload_of(fields)) for mid, fields in entries]
                if raws:
                    await self._handle(source, event_type, handler, raws, attempts=1)
                    await self.redis.xack(source.key, self.name, *[r.message_id for r in raws])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._after_failure(source, exc)

    async def _reclaim_bulk(self, source: Source, event_type: type[E], handler: Handler[E]) -> None:
        """Entries left pending longer than ``reclaim_idle_ms``, one at a time (XAUTOCLAIM)."""
        idle_ms = self.settings.reclaim_idle_ms
        poll_s = reclaim_poll_ms(idle_ms) / 1000
        start = "0-0"
        while not self.bulk_stopping:
            await self.priority.before_bulk_read()
            try:
                reply = await self.redis.xautoclaim(
                    source.key, self.name, self.consumer, min_idle_time=idle_ms, start_id=start, count=1
                )
                start = _text(reply[0])
                claimed = [(mid, fields) for mid, fields in reply[1] if fields is not None]
                if not claimed:
                    await asyncio.sleep(poll_s)
                    continue
                for mid, fields in claimed:
                    raw = RawEntry(_text(mid), payload_of(fields))
                    await self._rerun(source, event_type, handler, raw, await self._deliveries(source, raw))
                    await self.redis.xack(source.key, self.name, raw.message_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _is_nogroup(exc):
                    start = "0-0"
                await self._after_failure(source, exc)

    async def _deliveries(self, source: Source, raw: RawEntry) -> int:
        """How many times the entry was delivered, this claim included (XPENDING)."""
        pending: list[dict[str, Any]] = await self.redis.xpending_range(
            source.key, self.name, min=raw.message_id, max=raw.message_id, count=1
        )
        return int(pending[0]["times_delivered"]) if pending else 1

    async def _after_failure(self, source: Source, exc: Exception) -> None:
        """Recreate a vanished group (Redis lost its data); otherwise pause and go on: a failed
        batch stays pending for the reclaimer, an unreachable Redis is retried.

        A stopping worker's loop ends here even when the cancellation reached it as another
        error: redis-py's read timeout can turn a cancellation into a ``TimeoutError``, and a
        loop that caught it would run for ever.
        """
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError from exc
        if _is_nogroup(exc):
            log.warning(
                "consumer group %s on %s is gone (Redis lost its data?); recreating it",
                self.name,
                source.key,
                extra={"worker": self.name, "stream": source.key},
            )
            try:
                await join_group(self.redis, source.key, self.name, self.consumer)
                return
            except Exception:
                log.exception(
                    "recreating the group failed", extra={"worker": self.name, "stream": source.key}
                )
        else:
            log.warning(
                "bulk lane read or batch failed; next try in %.0f s: %s: %s",
                ERROR_BACKOFF_S,
                type(exc).__name__,
                exc,
                extra={"worker": self.name, "stream": source.name},
            )
        await asyncio.sleep(ERROR_BACKOFF_S)


def _is_nogroup(exc: Exception) -> bool:
    return isinstance(exc, ResponseError) and "NOGROUP" in str(exc)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
