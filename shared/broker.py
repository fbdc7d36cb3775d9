"""The broker helper: the one module that knows Redis Streams delivery semantics.

See docs/architecture.md, "Delivery rules".

Workers declare typed handlers; this module gives them:

- one consumer group per worker kind and one unique consumer per process;
- groups created at the start of the stream (``0``), so nothing published before the first
  worker started is missed;
- the default ack policy (REJECT_ON_ERROR): a failed batch stays in the pending list;
- small ``max_records`` (no replica grabs the whole backlog) and batch reads for encoders;
- a reclaimer per stream (XAUTOCLAIM after ``reclaim_idle_ms``) that re-runs pending messages one
  by one and dead-letters them after ``max_deliveries`` with the last error;
- immediate dead letters for payloads that are not valid JSON or fail the schema;
- pipelined publishing of a handler's output, before the ack (so effects are at least once and
  every side effect downstream is idempotent by ``submission_id``);
- removal of stale consumers (idle, nothing pending);
- the priority lane (``shared/lanes.py``): an event is published on its lane's stream (bulk
  events on the ``.bulk`` twin) and each consumer reads both, bulk only while no live batch runs.

A worker kind is declared as data (:class:`WorkerSpec`): its name, its module-level handlers
(plain ``async (events, deps) -> outcomes`` functions, testable without Redis) and how its
dependencies are built once at start. The composition root (``services.cli.registry``) lists
the specs; the supervisor, the AsyncAPI document and the deployment manifests derive from it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from faststream import FastStream
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisBatchStreamMessage, RedisStreamMessage
from faststream.redis.parser import BinaryMessageFormatV1
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from shared.config import Settings, get_settings
from shared.contract import DeadLetter, Lane, Stream, lane_stream, lanes_of
from shared.health import Health, record_group_gauges, serve
from shared.lanes import LiveFirst, stream_key
from shared.metrics import BATCH_SECONDS, BATCH_SIZE, MESSAGES
from shared.redis_conn import resolve_redis_url
from shared.trimming import groups_key, trim_acknowledged

log = logging.getLogger(__name__)

E = TypeVar("E", bound=BaseModel)
D = TypeVar("D")
DATA_KEY = b"__data__"
LAST_ERROR_TTL_S = 7 * 86400


@dataclass(frozen=True)
class Emit:
    """An event a handler wants published (before its input is acked)."""

    stream: Stream
    event: BaseModel


@dataclass(frozen=True)
class Reject:
    """An input event the handler gives up on: dead-lettered with ``error``, then acked."""

    event: BaseModel
    error: str


Outcome = Emit | Reject
Handler = Callable[[list[E]], Awaitable[Sequence[Outcome]]]
BoundHandler = Callable[[list[E], D], Awaitable[Sequence[Outcome]]]


@dataclass(frozen=True)
class Consumer(Generic[E, D]):
    """One stream a worker kind reads, the event type on it and its module-level handler."""

    stream: Stream
    event_type: type[E]
    handler: BoundHandler[E, D]
    batch: bool = True


@dataclass(frozen=True)
class WorkerSpec(Generic[D]):
    """A worker kind, as data: the single source of the list of workers and their streams.

    ``open`` builds the handlers' dependencies once, after Redis is connected; ``close``
    releases them. ``image`` names the container image the kind runs in (``slim``: no torch;
    ``inference``: the inference client and preprocessing).

    ``ready`` raises while the opened dependencies cannot serve (an encoder's model not loaded):
    the worker's ``/readyz`` says so. ``background`` is a loop run beside the consumers for the
    worker's life (a kind that consumes no stream, e.g. the reclassify worker polling its table).
    """

    name: str
    consumes: tuple[Consumer[Any, D], ...]
    publishes: tuple[Stream, ...]
    open: Callable[[Settings, Redis], Awaitable[D]]
    close: Callable[[D], Awaitable[None]] | None = None
    image: str = "slim"
    description: str = ""
    ready: Callable[[D], Awaitable[None]] | None = None
    background: Callable[[D], Awaitable[None]] | None = None


@dataclass(frozen=True)
class _Source:
    """Where a batch was read: the contract's stream, the lane and the Redis key."""

    stream: Stream
    lane: Lane
    key: str

    @property
    def name(self) -> str:
        """The lane's stream name (``listings.submitted.bulk``): the metrics' label."""
        return lane_stream(self.stream, self.lane)


@dataclass
class _Raw:
    """One stream entry as read: its id and its payload bytes (exactly as received)."""

    message_id: str
    payload: bytes


def consumer_name(worker: str) -> str:
    """Unique per process: host, pid and a random suffix (a restarted process is a new one)."""
    return f"{worker}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def payload_of(fields: Any) -> bytes:
    """The JSON body of an entry written by FastStream (or a raw ``data`` field otherwise)."""
    raw = fields.get(DATA_KEY)
    if raw is None:
        raw = fields.get(b"data")
        return raw if raw is not None else repr(fields).encode()
    try:
        body, _headers = BinaryMessageFormatV1.parse(raw)
        return body
    except Exception:  # not FastStream's binary format: the JSON is the field itself
        return raw


def parse_event(event_type: type[E], payload: bytes) -> E:
    return event_type.model_validate_json(payload)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def tolerant_parser(message: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream's parser, made unable to fail on what an entry holds.

    FastStream decodes every entry before the handler runs (and before the delivery count is
    checked): an entry without ``__data__`` or with bytes that are not UTF-8 JSON made it raise
    on every delivery, forever. Here such a batch is parsed from placeholders and the message
    keeps the original entries as its ``raw_message``: the handler reads those, and dead-letters
    the undecodable ones at their first delivery.
    """
    try:
        return await original(message)
    except Exception:
        data = message.get("data")
        placeholder: Any = (
            [{DATA_KEY: b"null"} for _ in data] if isinstance(data, list) else {DATA_KEY: b"null"}
        )
        parsed = await original({**message, "data": placeholder})
        parsed.raw_message = message
        return parsed


async def ensure_group(redis: Redis, stream_key: str, group: str) -> None:
    """Create ``group`` at the stream's start (idempotent), creating the stream if needed."""
    try:
        await redis.xgroup_create(stream_key, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def remove_stale_consumers(
    redis: Redis, stream_key: str, group: str, idle_ms: int, keep: str
) -> list[str]:
    """Delete consumers idle longer than ``idle_ms`` that hold no pending message.

    Consumers that still hold pending entries are left alone: the reclaimer moves their entries
    to a live consumer first, and a later pass removes them.
    """
    removed: list[str] = []
    try:
        consumers = await redis.xinfo_consumers(stream_key, group)
    except ResponseError:
        return removed
    for info in consumers:
        name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
        if name == keep or int(info.get("pending", 0)) > 0 or int(info.get("idle", 0)) < idle_ms:
            continue
        await redis.xgroup_delconsumer(stream_key, group, name)
        removed.append(name)
    return removed


class WorkerApp:
    """A FastStream app for one worker kind: typed handlers, Redis semantics hidden."""

    def __init__(
        self, name: str, settings: Settings | None = None, broker: RedisBroker | None = None
    ) -> None:
        self.name = name
        self.settings = settings or get_settings()
        self.consumer = consumer_name(name)
        self.redis_url = resolve_redis_url(self.settings)
        self.broker = broker or RedisBroker(
            self.redis_url, graceful_timeout=30.0, logger=log, log_level=logging.DEBUG
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
        self._tasks: list[asyncio.Task[None]] = []
        self._redis: Redis | None = None
        self._documentation = False
        self.priority = LiveFirst()
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
            holder["deps"] = await opener(app.settings, app.redis)

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
            await ensure_group(self.redis, key, self.name)
            # Visible in `catalog status` from the start, not only after a first message.
            await self.redis.xgroup_createconsumer(key, self.name, self.consumer)
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

    def _survive_group_loss(self, sub: Any, key: str) -> None:
        """A group that vanished (Redis restarted without its data: NOGROUP) is recreated and
        reading goes on; FastStream alone would stop the subscriber and exit the app. What was
        lost with Redis is found by the reconciler (``catalog reconcile``)."""
        read = sub._get_msgs

        async def read_or_recreate(*args: Any) -> None:
            try:
                await read(*args)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning(
                    "consumer group %s on %s is gone (Redis lost its data?); recreating it",
                    self.name,
                    key,
                    extra={"worker": self.name, "stream": key},
                )
                await ensure_group(self.redis, key, self.name)
                await self.redis.xgroup_createconsumer(key, self.name, self.consumer)
                if hasattr(sub, "autoclaim_start_id"):
                    sub.autoclaim_start_id = b"0-0"

        sub._get_msgs = read_or_recreate

    def _yield_to_live(self, sub: Any) -> None:
        """A bulk subscriber reads only while no live batch runs (``LiveFirst``)."""
        read = sub._get_msgs

        async def read_after_live(*args: Any) -> None:
            await self.priority.before_bulk_read()
            await read(*args)

        sub._get_msgs = read_after_live

    async def _after_start(self) -> None:
        self._janitor = asyncio.create_task(self._janitor_loop())
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

    # --- health and background tasks (shared/health.py) ----------------------------------------
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
            source = _Source(stream, lane, self.settings.key(lane_stream(stream, lane)))
            if source.key in self._streams:
                raise ValueError(f"{self.name} already consumes {source.name}")
            self._streams.append(source.key)
            self._register_lane(source, event_type, handler, batch)

    def _register_lane(self, source: _Source, event_type: type[E], handler: Handler[E], batch: bool) -> None:
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
        reclaimer = StreamSub(
            key,
            group=self.name,
            consumer=self.consumer,
            min_idle_time=self.settings.reclaim_idle_ms,
            polling_interval=min(1000, max(50, self.settings.reclaim_idle_ms // 4)),
        )

        main_sub = self.broker.subscriber(
            stream=main, title=title, description=description, parser=tolerant_parser
        )
        self._survive_group_loss(main_sub, key)

        @main_sub
        async def on_batch(msg: RedisBatchStreamMessage) -> None:
            raws = [
                _Raw(mid.decode(), payload_of(fields))
                for mid, fields in zip(msg.raw_message["message_ids"], msg.raw_message["data"], strict=True)
            ]
            await self._handle(source, event_type, handler, raws, attempts=1)

        reclaim_sub = self.broker.subscriber(
            stream=reclaimer,
            title=f"{title}:reclaim",
            description=f"Re-runs {source.name} messages left pending by a failed or dead consumer.",
            parser=tolerant_parser,
        )
        self._survive_group_loss(reclaim_sub, key)
        if source.lane == "bulk":
            self._yield_to_live(main_sub)
            self._yield_to_live(reclaim_sub)

        @reclaim_sub
        async def on_reclaimed(msg: RedisStreamMessage) -> None:
            mid = msg.raw_message["message_ids"][0]
            raw = _Raw(mid.decode(), payload_of(msg.raw_message["data"]))
            attempts = await msg.get_delivery_count()
            if attempts > self.settings.max_deliveries:
                error = await self._last_error(key, raw.message_id) or "unknown error"
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

    async def _handle(
        self, source: _Source, event_type: type[E], handler: Handler[E], raws: list[_Raw], attempts: int
    ) -> None:
        """A live batch counts as running live work (bulk reads wait for it to end)."""
        if source.lane == "live":
            async with self.priority.live():
                await self._process(source, event_type, handler, raws, attempts)
        else:
            await self._process(source, event_type, handler, raws, attempts)

    async def _process(
        self,
        source: _Source,
        event_type: type[E],
        handler: Handler[E],
        raws: list[_Raw],
        attempts: int,
    ) -> None:
        events: list[E] = []
        raw_of: dict[int, _Raw] = {}
        for raw in raws:
            try:
                event = parse_event(event_type, raw.payload)
                if getattr(event, "lane", source.lane) != source.lane:
                    # The stream decides: an entry put on a .bulk stream without the field is bulk.
                    event = event.model_copy(update={"lane": source.lane})
                events.append(event)
                raw_of[id(event)] = raw
            except ValidationError as exc:
                await self._dead_letter(source, raw, "invalid_payload", str(exc)[:4000], attempts)
            except Exception as exc:  # anything else that cannot be read is as dead as invalid JSON
                error = f"undecodable entry: {type(exc).__name__}: {exc}"[:4000]
                await self._dead_letter(source, raw, "invalid_payload", error, attempts)
        if not events:
            return
        started = time.perf_counter()
        labels = {"worker": self.name, "stream": source.name}
        BATCH_SIZE.labels(**labels).observe(len(events))
        try:
            outcomes = await handler(events)
        except Exception as exc:
            MESSAGES.labels(**labels, outcome="failed").inc(len(events))
            error = f"{type(exc).__name__}: {exc}"
            await self._remember_error(source.key, [r.message_id for r in raws], error)
            log.warning(
                "handler failed; messages stay pending for the reclaimer",
                extra={
                    "worker": self.name,
                    "stream": source.name,
                    "count": len(events),
                    "attempts": attempts,
                    "error": error,
                    "trace": traceback.format_exc(limit=5),
                },
            )
            raise
        await self._publish_outcomes(source, outcomes, raw_of, attempts)
        rejected = sum(isinstance(o, Reject) for o in outcomes)
        MESSAGES.labels(**labels, outcome="processed").inc(len(events) - rejected)
        BATCH_SECONDS.labels(**labels).observe(time.perf_counter() - started)
        log.debug(
            "batch processed",
            extra={
                "worker": self.name,
                "stream": source.name,
                "count": len(events),
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )

    async def _publish_outcomes(
        self,
        source: _Source,
        outcomes: Sequence[Outcome],
        by_event: dict[int, _Raw],
        attempts: int,
    ) -> None:
        emits = [o for o in outcomes if isinstance(o, Emit)]
        if emits:
            await publish_pipelined(
                self.broker, self.redis, self.settings, [(e.stream, e.event) for e in emits]
            )
        for outcome in outcomes:
            if isinstance(outcome, Reject):
                raw = by_event.get(id(outcome.event)) or _Raw("", outcome.event.model_dump_json().encode())
                await self._dead_letter(source, raw, "handler_rejected", outcome.error, attempts, ack=False)

    # --- dead letters -------------------------------------------------------------------------
    async def _dead_letter(
        self,
        source: _Source,
        raw: _Raw,
        reason: str,
        error: str,
        attempts: int,
        ack: bool = True,
    ) -> None:
        letter = DeadLetter(
            stream=str(source.stream),
            lane=source.lane,
            message_id=raw.message_id or None,
            worker=self.name,
            consumer=self.consumer,
            reason=reason,  # type: ignore[arg-type]
            error=error,
            attempts=attempts,
            payload=raw.payload.decode("utf-8", errors="replace"),
            # Bytes that are not UTF-8 are kept exactly, for inspection (replay needs JSON).
            payload_base64=None if _is_utf8(raw.payload) else base64.b64encode(raw.payload).decode(),
        )
        await publish_pipelined(self.broker, self.redis, self.settings, [(Stream.DEAD, letter)])
        outcome = "invalid" if reason == "invalid_payload" else "dead"
        MESSAGES.labels(worker=self.name, stream=source.name, outcome=outcome).inc()
        if ack and raw.message_id:
            # Acked on its own: the rest of its batch may still fail and be retried.
            await self.redis.xack(source.key, self.name, raw.message_id)
        log.warning(
            "dead letter",
            extra={
                "worker": self.name,
                "stream": source.name,
                "message_id": raw.message_id,
                "reason": reason,
                "attempts": attempts,
                "error": error[:500],
            },
        )

    def _error_key(self, key: str) -> str:
        return self.settings.key(f"errors:{self.name}:{key}")

    async def _remember_error(self, key: str, message_ids: list[str], error: str) -> None:
        if not message_ids:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._error_key(key), mapping=dict.fromkeys(message_ids, error[:2000]))
            pipe.expire(self._error_key(key), LAST_ERROR_TTL_S)
            await pipe.execute()

    async def _last_error(self, key: str, message_id: str) -> str | None:
        value = await self.redis.hget(self._error_key(key), message_id)
        if value is not None:
            await self.redis.hdel(self._error_key(key), message_id)
        return value.decode() if isinstance(value, bytes) else value


def _bind(handler: BoundHandler[E, D], holder: dict[str, Any]) -> Handler[E]:
    """``handler`` with the worker's dependencies (built at start) as its second argument."""

    async def bound(events: list[E]) -> Sequence[Outcome]:
        return await handler(events, holder["deps"])

    bound.__doc__ = handler.__doc__
    bound.__name__ = getattr(handler, "__name__", "handler")
    return bound


async def publish_pipelined(
    broker: RedisBroker, redis: Redis, settings: Settings, items: Sequence[tuple[Stream, BaseModel]]
) -> None:
    """Publish events in one Redis round trip (``publish_batch`` does not support streams).

    Each event goes to its lane's stream (a bulk event to the ``.bulk`` twin). FastStream
    encodes each event (its binary envelope with headers); the pipeline is ours.
    """
    async with redis.pipeline(transaction=False) as pipe:
        for stream, event in items:
            key = stream_key(settings, stream, event)
            await broker.publish(event, stream=key, pipeline=pipe, maxlen=settings.stream_maxlen)
        await pipe.execute()


class EventPublisher:
    """Publishing from outside a worker (API, CLI, jobs, tests)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.broker = RedisBroker(resolve_redis_url(self.settings), logger=log)

        self._redis: Redis | None = None

    async def __aenter__(self) -> EventPublisher:
        await self.broker.connect()
        self._redis = Redis.from_url(resolve_redis_url(self.settings))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        await self.broker.stop()

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("EventPublisher is not open: use `async with EventPublisher(...)`")
        return self._redis

    async def publish(self, stream: Stream, events: Sequence[BaseModel]) -> None:
        if events:
            await publish_pipelined(self.broker, self.redis, self.settings, [(stream, e) for e in events])


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
