"""WorkerApp: a worker kind running as a FastStream app (groups, readers, reclaimers, lanes,
health, trimming). Batch processing and dead letters live in ``delivery``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from faststream import FastStream
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisBatchStreamMessage, RedisStreamMessage
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from shared.broker.bulk import BulkLanes
from shared.broker.delivery import Delivery
from shared.broker.entries import (
    RawEntry,
    Source,
    consumer_name,
    join_group,
    payload_of,
    reclaim_poll_ms,
    remove_stale_consumers,
    tolerant_parser,
)
from shared.broker.health import Health, record_group_gauges, serve
from shared.broker.lanes import LiveFirst
from shared.broker.outages import Outages, open_waiting, sql_probe
from shared.broker.spec import BoundHandler, Handler, Outcome, WorkerSpec
from shared.broker.trimming import groups_key, trim_acknowledged
from shared.config import Settings, get_settings
from shared.contract import Stream, lane_stream, lanes_of
from shared.redis_conn import resolve_redis_url
from shared.tracing import tracing_for

log = logging.getLogger("shared.broker")

E = TypeVar("E", bound=BaseModel)
D = TypeVar("D")

GRACEFUL_TIMEOUT_S = 30.0
"""How long a stopping worker lets its running batches finish before cancelling them. Pod
termination grace (deploy/k8s) and compose's stop_grace_period are above it."""


class WorkerApp(Delivery, BulkLanes):
    """A FastStream app for one worker kind: typed handlers, Redis semantics hidden."""

    def __init__(
        self, name: str, settings: Settings | None = None, broker: RedisBroker | None = None
    ) -> None:
        self.name = name
        self.settings = settings or get_settings()
        self.consumer = consumer_name(name)
        self.redis_url = resolve_redis_url(self.settings)
        self.broker = broker or RedisBroker(
            self.redis_url, graceful_timeout=GRACEFUL_TIMEOUT_S, logger=log, log_level=logging.DEBUG
        )
        self.app = FastStream(self.broker, logger=log)
        self._streams: list[str] = []
        self._startup: list[Callable[[], Awaitable[None]]] = []
        self._shutdown: list[Callable[[], Awaitable[None]]] = []
        self._janitor: asyncio.Task[None] | None = None
        self._trimmer: asyncio.Task[None] | None = None
        self.expected_groups: dict[Stream, set[str]] = {}
        """Every worker kind reading each stream (set by the composition root): no entry is
        trimmed before all of them have a group and have acknowledged it."""
        self._metrics_server: Any = None
        self.health = Health(name)
        self.outages = Outages(name)
        self.tracing = tracing_for(self.settings, name)
        self.health.add_check("outage", self.outages.check)
        self.outages.probes = {"redis": lambda: self.redis.ping(), "sql": sql_probe(self.settings)}
        self._tasks: list[asyncio.Task[None]] = []
        self._redis: Redis | None = None
        self._documentation = False
        self.priority = LiveFirst()
        self._bulk: list[tuple[Source, Any, Handler[Any], int]] = []
        """Bulk lanes, read by the helper's own loops (``shared.broker.bulk``)."""
        self.app.on_startup(self._before_start)
        self.app.after_startup(self._after_start)
        self.app.on_shutdown(self._before_stop)

    # --- lifecycle ----------------------------------------------------------------------------
    @classmethod
    def from_spec(
        cls,
        spec: WorkerSpec[D],
        settings: Settings | None = None,
        open_deps: Callable[[Settings, Redis], Awaitable[D]] | None = None,
        broker: RedisBroker | None = None,
        documentation: bool = False,
    ) -> WorkerApp:
        """The running form of ``spec``: its handlers bound to dependencies built at start.

        ``open_deps`` replaces ``spec.open`` (tests inject a backend). With ``documentation``,
        the same subscriptions are declared on ``broker`` with the event type as their payload,
        for FastStream's AsyncAPI generator (the running subscribers read raw entries so that one
        undecodable entry is dead-lettered alone instead of failing its batch).
        """
        app = cls(spec.name, settings, broker=broker)
        app._documentation = documentation
        if documentation:  # the document shows the pattern, not this process's name
            app.consumer = f"{spec.name}-<host>-<pid>-<random>"
        holder: dict[str, Any] = {}
        opener = open_deps or spec.open

        async def build() -> None:
            # The database (or Triton...) away at start: wait for it instead of crash-looping.
            holder["deps"] = await open_waiting(app.name, lambda: opener(app.settings, app.redis))

        async def release() -> None:
            deps = holder.pop("deps", None)
            if deps is not None and spec.close is not None:
                await spec.close(deps)

        async def deps_ready() -> None:
            if "deps" not in holder:
                raise RuntimeError("dependencies not opened yet")
            if spec.ready is not None:
                await spec.ready(holder["deps"])

        app.on_startup(build)
        app.on_shutdown(release)
        app.health.add_check("dependencies", deps_ready)
        background = spec.background
        if background is not None:

            async def start_background() -> None:
                app.run_in_background(lambda: background(holder["deps"]), spec.name)

            app.on_startup(start_background)
        for consumer in spec.consumes:
            app._register(
                consumer.stream, consumer.event_type, _bind(consumer.handler, holder), consumer.batch
            )
        return app

    @property
    def redis(self) -> Redis:
        """This worker's own Redis client (connected at start) for acks, groups and publishing."""
        if self._redis is None:
            raise RuntimeError(f"worker {self.name} is not started: no Redis connection yet")
        return self._redis

    def on_startup(self, fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        self._startup.append(fn)
        return fn

    def on_shutdown(self, fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        self._shutdown.append(fn)
        return fn

    async def _before_start(self) -> None:
        await self.broker.connect()
        if self._redis is None:
            self._redis = Redis.from_url(self.redis_url)
        # Redis down (or loading its data) at start: wait for it instead of exiting.
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type((RedisConnectionError, RedisTimeoutError, OSError)),
            wait=wait_exponential_jitter(multiplier=0.5, max=30.0),
            before_sleep=self._log_redis_retry,
            reraise=True,
        ):
            with attempt:
                await self._join_groups()
        for fn in self._startup:
            await fn()

    async def _join_groups(self) -> None:
        expected = {
            self.settings.key(lane_stream(stream, lane)): groups
            for stream, groups in self.expected_groups.items()
            for lane in lanes_of(stream)
        }
        for key in self._streams:
            # The consumer is visible in `catalog status` from the start, not only after a read.
            await join_group(self.redis, key, self.name, self.consumer)
            await self.redis.sadd(groups_key(self.settings, key), self.name, *expected.get(key, ()))

    def _log_redis_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "Redis unreachable; worker %s retries in %.1f s (attempt %d): %s",
            self.name,
            state.upcoming_sleep,
            state.attempt_number,
            error,
            extra={"worker": self.name, "attempt": state.attempt_number},
        )

    async def _after_start(self) -> None:
        self._janitor = asyncio.create_task(self._janitor_loop())
        self.bulk_stopping = False
        for source, event_type, handler, reads in self._bulk:
            self._start_bulk_lane(source, event_type, handler, reads)
        if self.settings.stream_trim:
            self._trimmer = asyncio.create_task(self._trim_loop())
        if self.settings.metrics_port is not None and self._metrics_server is None:
            self._start_health(self.settings.metrics_host, self.settings.metrics_port)
        log.info(
            "worker started",
            extra={"worker": self.name, "consumer": self.consumer, "streams": self._streams},
        )

    async def _before_stop(self) -> None:
        for task in (self._janitor, self._trimmer):
            if task is not None:
                task.cancel()
        await self._stop_tasks()
        for fn in self._shutdown:
            await fn()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.flush)
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def _janitor_loop(self) -> None:
        idle_ms = self.settings.consumer_stale_after_s * 1000
        while True:
            for key in self._streams:
                try:
                    removed = await remove_stale_consumers(self.redis, key, self.name, idle_ms, self.consumer)
                    if removed:
                        log.info("stale consumers removed", extra={"stream": key, "removed": removed})
                except Exception:
                    log.exception("stale consumer cleanup failed", extra={"stream": key})
            await asyncio.sleep(max(5.0, min(300.0, idle_ms / 4000)))

    # --- health and background tasks (shared/broker/health.py) ---------------------------------
    def _start_health(self, host: str, port: int) -> None:
        """/metrics, /livez and /readyz on ``port``; the heartbeat task also pings Redis."""

        async def redis_ping() -> None:
            await self.redis.ping()

        async def group_gauges() -> None:
            for key in self._streams:
                await record_group_gauges(self.redis, key, self.name)

        self.health.add_check("redis", redis_ping)
        self.health.add_check("streams", group_gauges)
        self._metrics_server = serve(self.health, host, port)
        self._tasks.append(asyncio.create_task(self.health.run()))

    def run_in_background(self, fn: Callable[[], Awaitable[None]], what: str) -> None:
        """Run ``fn`` for the worker's life; if it dies, liveness fails (the pod restarts)."""

        async def guarded() -> None:
            try:
                await fn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("background task died", extra={"worker": self.name, "task": what})
                self.health.fail(f"background task {what} died: {type(exc).__name__}: {exc}")

        self._tasks.append(asyncio.create_task(guarded()))

    async def _stop_tasks(self) -> None:
        self.bulk_stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
            self._metrics_server = None

    async def trim_streams(self) -> int:
        """Trim each consumed stream below what every registered group still needs."""
        trimmed = 0
        for key in self._streams:
            members = await self.redis.smembers(groups_key(self.settings, key))
            required = {m.decode() if isinstance(m, bytes) else str(m) for m in members}
            trimmed += await trim_acknowledged(self.redis, key, required | {self.name})
        return trimmed

    async def _trim_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.stream_trim_interval_s)
            try:
                trimmed = await self.trim_streams()
                if trimmed:
                    log.debug("streams trimmed", extra={"worker": self.name, "entries": trimmed})
            except Exception:
                log.exception("stream trimming failed", extra={"worker": self.name})

    @asynccontextmanager
    async def running(self) -> AsyncIterator[WorkerApp]:
        """Run the worker in-process (tests, ``catalog classify``-style embedding)."""
        await self._before_start()
        await self.broker.start()
        await self._after_start()
        try:
            yield self
        finally:
            await self._before_stop()
            await self.broker.stop()

    async def run(self) -> None:
        """Run until SIGINT/SIGTERM (``catalog worker NAME``)."""
        await self.app.run()

    # --- handlers -----------------------------------------------------------------------------
    def consume(
        self, stream: Stream, event_type: type[E], *, batch: bool = False
    ) -> Callable[[Handler[E]], Handler[E]]:
        """Register ``handler`` for ``stream``: batches of validated events in, outcomes out."""

        def register(handler: Handler[E]) -> Handler[E]:
            self._register(stream, event_type, handler, batch)
            return handler

        return register

    def _register(self, stream: Stream, event_type: type[E], handler: Handler[E], batch: bool) -> None:
        """Subscribe ``handler`` to both lanes of ``stream``: each lane has its own reader and
        reclaimer; bulk ones read only while no live batch runs."""
        for lane in lanes_of(stream):
            source = Source(stream, lane, self.settings.key(lane_stream(stream, lane)))
            if source.key in self._streams:
                raise ValueError(f"{self.name} already consumes {source.name}")
            self._streams.append(source.key)
            self._register_lane(source, event_type, handler, batch)

    def _register_lane(self, source: Source, event_type: type[E], handler: Handler[E], batch: bool) -> None:
        key, stream = source.key, source.stream
        reads = self.settings.batch_size if batch else self.settings.max_records
        description = (handler.__doc__ or "").strip() or f"{self.name} consumes {stream}"
        if source.lane == "bulk":
            description = f"{description} (bulk lane: read only while no live batch runs)"
        title = f"{self.name}:{source.name}"

        main = StreamSub(
            key,
            group=self.name,
            consumer=self.consumer,
            batch=True,
            max_records=reads,
            polling_interval=200,
        )
        if self._documentation:
            self._declare_for_documentation(main, title, event_type, description)
            return
        if source.lane == "bulk":
            # FastStream reads as soon as it can; a bulk lane must wait for live work first, which
            # its subscribers offer no public hook for: the helper reads bulk entries itself.
            self._bulk.append((source, event_type, handler, reads))
            return
        reclaimer = StreamSub(
            key,
            group=self.name,
            consumer=self.consumer,
            min_idle_time=self.settings.reclaim_idle_ms,
            polling_interval=reclaim_poll_ms(self.settings.reclaim_idle_ms),
        )
        main_sub = self.broker.subscriber(
            stream=main, title=title, description=description, parser=tolerant_parser
        )

        @main_sub
        async def on_batch(msg: RedisBatchStreamMessage) -> None:
            raws = [
                RawEntry(mid.decode(), payload_of(fields))
                for mid, fields in zip(msg.raw_message["message_ids"], msg.raw_message["data"], strict=True)
            ]
            await self._handle(source, event_type, handler, raws, attempts=1)

        reclaim_sub = self.broker.subscriber(
            stream=reclaimer,
            title=f"{title}:reclaim",
            description=f"Re-runs {source.name} messages left pending by a failed or dead consumer.",
            parser=tolerant_parser,
        )

        @reclaim_sub
        async def on_reclaimed(msg: RedisStreamMessage) -> None:
            mid = msg.raw_message["message_ids"][0]
            raw = RawEntry(mid.decode(), payload_of(msg.raw_message["data"]))
            await self._rerun(source, event_type, handler, raw, await msg.get_delivery_count())

    async def _rerun(
        self, source: Source, event_type: type[E], handler: Handler[E], raw: RawEntry, attempts: int
    ) -> None:
        """A reclaimed entry: dead-lettered past ``max_deliveries``, else handled again."""
        if attempts > self.settings.max_deliveries:
            error = await self._last_error(source.key, raw.message_id) or "unknown error"
            await self._dead_letter(source, raw, "max_deliveries", error, attempts - 1)
            return
        await self._handle(source, event_type, handler, [raw], attempts=attempts)

    def _declare_for_documentation(
        self, sub: StreamSub, title: str, event_type: type[E], description: str
    ) -> None:
        async def consume(event: BaseModel) -> None:
            """The payload of one entry (the handler receives them in batches)."""

        # Resolved annotation (this module uses postponed annotations): the event's own schema.
        consume.__annotations__ = {"event": event_type, "return": None}

        self.broker.subscriber(stream=sub, title=title, description=description)(consume)


def _bind(handler: BoundHandler[E, D], holder: dict[str, Any]) -> Handler[E]:
    """``handler`` with the worker's dependencies (built at start) as its second argument."""

    async def bound(events: list[E]) -> Sequence[Outcome]:
        return await handler(events, holder["deps"])

    bound.__doc__ = handler.__doc__
    bound.__name__ = getattr(handler, "__name__", "handler")
    return bound
