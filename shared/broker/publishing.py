"""Publishing (one pipelined round trip, each event on its lane's stream) and group-less reads."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any, Generic, TypeVar

from faststream.redis import RedisBroker
from pydantic import BaseModel
from redis.asyncio import Redis

from shared.broker import envelope
from shared.broker.entries import DATA_KEY, parse_event, payload_of
from shared.broker.lanes import stream_key
from shared.config import Settings, get_settings
from shared.contract import Lane, Stream, lane_stream
from shared.redis_conn import resolve_redis_url
from shared.tracing import context_of, tracing_for

log = logging.getLogger(__name__)

E = TypeVar("E", bound=BaseModel)


async def publish_pipelined(
    redis: Redis, settings: Settings, items: Sequence[tuple[Stream, BaseModel]]
) -> None:
    """Publish events in one Redis round trip (``publish_batch`` does not support streams).

    Each event goes to its lane's stream (a bulk event to the ``.bulk`` twin), in FastStream's
    binary envelope (``envelope.py``: the same bytes FastStream's ``broker.publish`` writes,
    without its per-event publisher machinery: issue 27).
    """
    async with redis.pipeline(transaction=False) as pipe:
        for stream, event in items:
            body = envelope.encode(event.model_dump_json().encode())
            pipe.xadd(stream_key(settings, stream, event), {DATA_KEY: body}, maxlen=settings.stream_maxlen)
        await pipe.execute()


class EventPublisher:
    """Publishing from outside a worker (API, CLI, jobs, tests)."""

    def __init__(self, settings: Settings | None = None, service: str = "publisher") -> None:
        self.settings = settings or get_settings()
        self.broker = RedisBroker(resolve_redis_url(self.settings), logger=log)
        self.tracing = tracing_for(self.settings, service)

        self._redis: Redis | None = None

    async def __aenter__(self) -> EventPublisher:
        await self.broker.connect()
        self._redis = Redis.from_url(resolve_redis_url(self.settings))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.flush)
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        await self.broker.stop()

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("EventPublisher is not open: use `async with EventPublisher(...)`")
        return self._redis

    async def publish(
        self,
        stream: Stream,
        events: Sequence[BaseModel],
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> None:
        """Publish ``events``; with tracing on, each one without a traceparent starts its trace
        here (as a child of the caller's ``traceparent``, when it sent a valid one)."""
        if not events:
            return
        traced = (
            self.tracing.publishing(str(stream), events, context_of(traceparent, tracestate))
            if self.tracing is not None
            else nullcontext()
        )
        with traced:
            await publish_pipelined(self.redis, self.settings, [(stream, e) for e in events])


class EventReader(Generic[E]):
    """Reads one lane of a stream from its start without a group (tests, ``catalog ingest --wait``)."""

    def __init__(
        self, redis: Redis, settings: Settings, stream: Stream, event_type: type[E], lane: Lane = "live"
    ) -> None:
        self.redis, self.event_type = redis, event_type
        self.key = settings.key(lane_stream(stream, lane))
        self.last_id = "0-0"

    async def read(self, block_ms: int = 500, count: int = 1000) -> list[E]:
        response: Any = await self.redis.xread({self.key: self.last_id}, count=count, block=block_ms)
        events: list[E] = []
        for _stream, entries in response or []:
            for mid, fields in entries:
                self.last_id = mid.decode() if isinstance(mid, bytes) else mid
                events.append(parse_event(self.event_type, payload_of(fields)))
        return events


async def read_events(
    settings: Settings,
    stream: Stream,
    event_type: type[E],
    count: int,
    timeout_s: float = 30.0,
    lane: Lane = "live",
) -> list[E]:
    """Events of ``stream``'s ``lane`` from its start, waiting until ``count`` are there or
    ``timeout_s``."""
    redis = Redis.from_url(resolve_redis_url(settings))
    try:
        reader = EventReader(redis, settings, stream, event_type, lane)
        events: list[E] = []
        deadline = time.monotonic() + timeout_s
        while len(events) < count and time.monotonic() < deadline:
            events.extend(await reader.read(block_ms=200))
        return events
    finally:
        await redis.aclose()
