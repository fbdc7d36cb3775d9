"""The reconciler: the store, not Redis, decides that an offer is lost (docs/reliability.md).

Each pass:

1. reads new dead letters (``listings.dead``, from a cursor kept in Redis) and closes the
   submissions they name: those will never get a prediction and are not overdue. The cursor
   moves only after that SQL commit: letters read by a pass that fails are read again;
2. closes open submissions that got their prediction;
3. re-publishes, with their original ``submission_id``, open submissions last published more
   than ``older_than_s`` ago (Redis lost them, or a worker is stuck): every effect downstream
   is idempotent by that id, so a submission that was only slow is stored once anyway. The
   next deadline of a re-published submission doubles each time (up to 16x).

Plain functions; ``catalog reconcile`` runs them once or every few seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from shared.broker import EventPublisher, payload_of
from shared.config import Settings
from shared.contract import Stream
from shared.db.session import migrate, session_scope
from shared.db.submissions import (
    Overdue,
    close_dead,
    close_orphans,
    close_predicted,
    count_overdue,
    mark_republished,
    overdue_submissions,
)
from shared.metrics import OVERDUE, RECONCILED
from shared.trust import TRUST_REASONS

log = logging.getLogger(__name__)

CURSOR_KEY = "reconcile:dead-cursor"


@dataclass(frozen=True)
class PassReport:
    """What one pass did; ``overdue`` is what it found overdue before re-publishing."""

    dead_letters_read: int
    closed_dead: int
    closed_predicted: int
    overdue: int
    republished: int
    orphans: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def dead_submission(raw: bytes) -> tuple[uuid.UUID, str] | None:
    """The submission id a dead letter names, with the letter's reason (None if it names none:
    a payload that is not an event at all, or an untrusted event refused: a forgery naming a
    genuine submission must not close it, shared/trust.py)."""
    try:
        letter = json.loads(raw)
        if str(letter.get("error") or "").startswith(TRUST_REASONS):
            return None
        event = json.loads(letter["payload"])
        return uuid.UUID(str(event["submission_id"])), str(letter.get("reason") or "dead")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


async def read_dead_letters(
    redis: Redis, settings: Settings, count: int = 1000
) -> tuple[dict[uuid.UUID, str], int, str | None]:
    """Dead letters published since the last pass: submission id -> reason, how many were read
    and the cursor to save once they are recorded (:func:`save_cursor`, only after the SQL
    commit: a pass that fails in SQL leaves the cursor where it was, and the next pass reads
    the same letters again). The cursor is a stream id kept in Redis; if Redis loses it,
    everything is read again (closing is idempotent), and ids keep growing with time, so a new
    stream is read from its start."""
    key, cursor_key = settings.key(Stream.DEAD), settings.key(CURSOR_KEY)
    raw_cursor = await redis.get(cursor_key)
    cursor = raw_cursor.decode() if isinstance(raw_cursor, bytes) else raw_cursor
    named: dict[uuid.UUID, str] = {}
    read = 0
    while True:
        start = "-" if cursor is None else f"({cursor}"
        entries: list[Any] = list(await redis.xrange(key, min=start, count=count) or [])
        if not entries:
            break
        for mid, fields in entries:
            cursor = mid.decode() if isinstance(mid, bytes) else str(mid)
            read += 1
            found = dead_submission(payload_of(fields))
            if found is not None:
                named[found[0]] = found[1]
    return named, read, cursor if read else None


async def save_cursor(redis: Redis, settings: Settings, cursor: str | None) -> None:
    """Remember that the dead letters up to ``cursor`` are recorded in SQL."""
    if cursor is not None:
        await redis.set(settings.key(CURSOR_KEY), cursor)


def _close(url: str, dead: dict[uuid.UUID, str]) -> tuple[int, int]:
    with session_scope(url) as session:
        return close_dead(session, dead), close_predicted(session)


def _overdue(url: str, older_than_s: float, limit: int) -> list[Overdue]:
    with session_scope(url) as session:
        return overdue_submissions(session, older_than_s, limit)


def _mark(url: str, republished: list[Overdue], orphans: list[uuid.UUID], older_than_s: float) -> None:
    with session_scope(url) as session:
        mark_republished(session, republished, older_than_s)
        close_orphans(session, orphans)


def overdue_count(settings: Settings, older_than_s: float | None = None) -> int:
    """How many submissions are overdue now (``catalog status``)."""
    deadline = settings.reconcile_after_s if older_than_s is None else older_than_s
    with session_scope(settings.effective_database_url) as session:
        return count_overdue(session, deadline)


async def reconcile_once(
    settings: Settings, publisher: EventPublisher, older_than_s: float, limit: int = 5000
) -> PassReport:
    """One pass (see the module docstring)."""
    url = settings.effective_database_url
    dead, read, cursor = await read_dead_letters(publisher.redis, settings)
    closed_dead, closed_predicted = await asyncio.to_thread(_close, url, dead)
    await save_cursor(publisher.redis, settings, cursor)  # only once the closing is committed
    overdue = await asyncio.to_thread(_overdue, url, older_than_s, limit)
    events = [o.event for o in overdue if o.event is not None]
    orphans = [o.submission_id for o in overdue if o.event is None]
    if events:
        await publisher.publish(Stream.SUBMITTED, events)
    republished = [o for o in overdue if o.event is not None]
    await asyncio.to_thread(_mark, url, republished, orphans, older_than_s)
    report = PassReport(read, closed_dead, closed_predicted, len(overdue), len(events), len(orphans))
    OVERDUE.set(len(overdue))
    RECONCILED.labels(action="republished").inc(len(events))
    RECONCILED.labels(action="closed_dead").inc(closed_dead)
    RECONCILED.labels(action="closed_predicted").inc(closed_predicted)
    if overdue:
        log.warning(
            "overdue submissions re-published",
            extra={"overdue": len(overdue), "republished": len(events), "orphans": len(orphans)},
        )
    return report


async def run(
    settings: Settings,
    every_s: float | None,
    older_than_s: float,
    on_pass: Any = None,
) -> PassReport:
    """Passes every ``every_s`` seconds until cancelled (one pass when ``every_s`` is None).

    A pass that fails (Redis or the database down) is logged and retried at the next tick.
    """
    await asyncio.to_thread(migrate, settings.effective_database_url)
    async with EventPublisher(settings) as publisher:
        while True:
            try:
                report = await reconcile_once(settings, publisher, older_than_s)
            except Exception as exc:
                if every_s is None:
                    raise
                error = f"{type(exc).__name__}: {exc}"
                log.warning("reconcile pass failed; retrying", extra={"error": error})
            else:
                if on_pass is not None:
                    on_pass(report)
                if every_s is None:
                    return report
            await asyncio.sleep(every_s)
