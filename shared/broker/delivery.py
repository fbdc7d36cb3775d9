"""What happens to a batch once read: parse, run the handler, publish its outcomes, dead-letter.

Mixed into :class:`shared.broker.app.WorkerApp`; kept apart so each file reads on its own.
"""

from __future__ import annotations

import base64
import logging
import time
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

from faststream.redis import RedisBroker
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from shared.broker.entries import RawEntry, Source, parse_event
from shared.broker.outages import Outages, run_holding
from shared.broker.publishing import publish_pipelined
from shared.broker.spec import Emit, Handler, Outcome, Reject
from shared.config import Settings
from shared.contract import DeadLetter, Stream
from shared.metrics import BATCH_SECONDS, BATCH_SIZE, MESSAGES
from shared.tracing import Tracing

if TYPE_CHECKING:
    from shared.broker.lanes import LiveFirst

log = logging.getLogger("shared.broker")

E = TypeVar("E", bound=BaseModel)
LAST_ERROR_TTL_S = 7 * 86400


class WorkerState:
    """What the mixins of :class:`shared.broker.app.WorkerApp` read from it."""

    name: str
    consumer: str
    settings: Settings
    broker: RedisBroker
    priority: LiveFirst
    outages: Outages
    bulk_stopping: bool
    tracing: Tracing | None

    @property
    def redis(self) -> Redis:
        raise NotImplementedError


class Delivery(WorkerState):
    """Batch processing and dead letters for a worker kind (``WorkerApp`` provides the state)."""

    async def _handle(
        self, source: Source, event_type: type[E], handler: Handler[E], raws: list[RawEntry], attempts: int
    ) -> None:
        """A live batch counts as running live work (bulk reads, and the model calls of a bulk
        batch in progress, wait for it to end)."""
        gate = self.priority.live() if source.lane == "live" else self.priority.bulk()
        async with gate:
            await self._process(source, event_type, handler, raws, attempts)

    async def _process(
        self,
        source: Source,
        event_type: type[E],
        handler: Handler[E],
        raws: list[RawEntry],
        attempts: int,
    ) -> None:
        events: list[E] = []
        raw_of: dict[int, RawEntry] = {}
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
        spans = self.tracing.stage(self.name, source.name, events) if self.tracing is not None else None
        labels = {"worker": self.name, "stream": source.name}
        BATCH_SIZE.labels(**labels).observe(len(events))
        try:
            # A dependency outage holds the batch (pending, not counted) until it passes.
            outcomes = await run_holding(
                self.outages,
                self.redis,
                source,
                self.name,
                self.consumer,
                list(raw_of.values()),
                lambda: handler(events),
                refresh_s=min(1.0, max(0.05, self.settings.reclaim_idle_ms / 4000)),
                stopping=lambda: self.bulk_stopping,
            )
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
            if spans is not None:
                spans.end(exc)
            raise
        if spans is not None:
            spans.forward(outcomes)
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
        if spans is not None:
            spans.end()

    async def _publish_outcomes(
        self,
        source: Source,
        outcomes: Sequence[Outcome],
        by_event: dict[int, RawEntry],
        attempts: int,
    ) -> None:
        emits = [o for o in outcomes if isinstance(o, Emit)]
        if emits:
            await publish_pipelined(self.redis, self.settings, [(e.stream, e.event) for e in emits])
        for outcome in outcomes:
            if isinstance(outcome, Reject):
                raw = by_event.get(id(outcome.event)) or RawEntry(
                    "", outcome.event.model_dump_json().encode()
                )
                await self._dead_letter(source, raw, "handler_rejected", outcome.error, attempts, ack=False)

    # --- dead letters -------------------------------------------------------------------------
    async def _dead_letter(
        self,
        source: Source,
        raw: RawEntry,
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
        await publish_pipelined(self.redis, self.settings, [(Stream.DEAD, letter)])
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
        return error_key(self.settings, self.name, key)

    async def _remember_error(self, key: str, message_ids: list[str], error: str) -> None:
        """Best effort (a dead letter's error text): Redis away, or the worker stopping, must
        not replace the handler's own error."""
        if not message_ids:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(self._error_key(key), mapping=dict.fromkeys(message_ids, error[:2000]))
                pipe.expire(self._error_key(key), LAST_ERROR_TTL_S)
                await pipe.execute()
        except Exception as exc:
            log.debug("last error not recorded: %s", exc)

    async def _last_error(self, key: str, message_id: str) -> str | None:
        value = await self.redis.hget(self._error_key(key), message_id)
        if value is not None:
            await self.redis.hdel(self._error_key(key), message_id)
        return value.decode() if isinstance(value, bytes) else value


def error_key(settings: Settings, group: str, stream_key: str) -> str:
    """The hash of a consumer group's last handler errors on a stream (in the stream's slot)."""
    return settings.key(f"errors:{group}:{stream_key}")


def _is_utf8(data: bytes) -> bool:
    """Whether a dead payload can be kept as text (else it is kept base64-encoded)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
