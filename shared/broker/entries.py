"""Stream entries as Redis holds them: payloads, parsing that cannot fail, groups, consumers."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from faststream.redis.parser import BinaryMessageFormatV1
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.broker import envelope
from shared.contract import Lane, Stream, lane_stream

E = TypeVar("E", bound=BaseModel)
DATA_KEY = b"__data__"


@dataclass(frozen=True)
class Source:
    """Where a batch was read: the contract's stream, the lane and the Redis key."""

    stream: Stream
    lane: Lane
    key: str

    @property
    def name(self) -> str:
        """The lane's stream name (``listings.submitted.bulk``): the metrics' label."""
        return lane_stream(self.stream, self.lane)


@dataclass
class RawEntry:
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
    body = envelope.body_of(raw)  # the fast path: FastStream's format, read with struct
    if body is not None:
        return body
    try:
        body, _headers = BinaryMessageFormatV1.parse(raw)
        return body
    except Exception:  # not FastStream's binary format: the JSON is the field itself
        return raw


def parse_event(event_type: type[E], payload: bytes) -> E:
    return event_type.model_validate_json(payload)


async def tolerant_parser(message: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream's parser, made unable to fail on what an entry holds, and not paid for.

    FastStream decodes every entry before the handler runs (and before the delivery count is
    checked): an entry without ``__data__`` or with bytes that are not UTF-8 JSON made it raise
    on every delivery, forever. And our handlers never read FastStream's body: they parse each
    entry of ``raw_message`` with its event type (and dead-letter the undecodable ones at their
    first delivery), so FastStream's JSON decoding of every entry, and its re-encoding of the
    batch, was work thrown away (issue 27). So every message is parsed from placeholders and
    keeps the original entries as its ``raw_message``.
    """
    data = message.get("data")
    placeholder: Any = [{DATA_KEY: b"null"} for _ in data] if isinstance(data, list) else {DATA_KEY: b"null"}
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


async def join_group(redis: Redis, stream_key: str, group: str, consumer: str) -> None:
    """The group (created if missing) with ``consumer`` registered, visible before any read."""
    await ensure_group(redis, stream_key, group)
    await redis.xgroup_createconsumer(stream_key, group, consumer)


def reclaim_poll_ms(reclaim_idle_ms: int) -> int:
    """How often a reclaimer looks for idle entries: a quarter of the idle time, 50 ms to 1 s."""
    return min(1000, max(50, reclaim_idle_ms // 4))


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
