"""The bulk reclassification loop: publish pages while fewer than ``max_in_flight`` are pending.

Its offers go on the bulk lane (``listings.submitted.bulk`` and the other ``.bulk`` streams,
``shared/broker/lanes.py``): live offers never queue behind them, and workers take bulk work only while
no live batch runs. In flight = ``published - completed`` read from the job row (the writer
increments ``completed``) bounds the bulk backlog in Redis.
The loop is safe to kill at any point; :func:`run_job` on the same job id resumes it. While it
runs it refreshes the job's heartbeat (its lease): a reclassify worker takes over a job whose
heartbeat is older than the lease, and a runner whose job was taken over stops. Redis or the
database going away mid-job (a restart) pauses the loop with backoff; it goes on where the job
stands once they are back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from shared.broker import EventPublisher, payload_of
from shared.config import Settings
from shared.contract import Stream
from shared.db.jobs import claim, get_job, heartbeat, job_view, next_page, record_page, set_status
from shared.db.session import session_scope
from shared.db.submissions import record_submissions
from shared.dependencies import dependency_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    page_size: int = 500
    poll_interval_s: float = 0.5
    stall_timeout_s: float = 600.0
    """Waiting this long without any new completion fails the job (workers down, dead letters)."""
    heartbeat_interval_s: float = 10.0
    """How often the runner refreshes its lease (keep it well below the lease, CATALOG_JOB_LEASE_S)."""


def runner_name(kind: str) -> str:
    """Who runs a job: the kind of process, its host and pid (shown by ``catalog jobs show``)."""
    return f"{kind}-{socket.gethostname()}-{os.getpid()}"


def _snapshot(url: str, job_id: uuid.UUID) -> dict[str, Any]:
    with session_scope(url) as session:
        return job_view(get_job(session, job_id))


def _claim(url: str, job_id: uuid.UUID, runner: str) -> bool:
    """Mark the job running for ``runner`` (a resumed failed job too); False when it is
    finished or cancelled."""
    with session_scope(url) as session:
        get_job(session, job_id)
        return claim(session, job_id, runner)


def _beat(url: str, job_id: uuid.UUID, runner: str) -> bool:
    with session_scope(url) as session:
        return heartbeat(session, job_id, runner)


def _next_page(url: str, job_id: uuid.UUID, size: int) -> tuple[str | None, list[Any]]:
    """The cursor the page was read after, and the page."""
    with session_scope(url) as session:
        job = get_job(session, job_id)
        return job.cursor, next_page(session, job, size)


def _record(url: str, job_id: uuid.UUID, after: str | None, cursor: str, count: int) -> bool:
    with session_scope(url) as session:
        return record_page(session, job_id, after, cursor, count)


def _record_submissions(url: str, page: list[Any]) -> None:
    """Recorded before publishing, so the reconciler re-publishes a page Redis loses."""
    with session_scope(url) as session:
        record_submissions(session, page)


def _finish(url: str, job_id: uuid.UUID, status: str, error: str | None = None) -> None:
    with session_scope(url) as session:
        set_status(session, job_id, status, error=error, only_from=("running",))


class Backoff:
    """Exponential delays, 0.5 s doubling up to 30 s, for waiting out an outage."""

    def __init__(self, first_s: float = 0.5, max_s: float = 30.0) -> None:
        self.first_s, self.max_s, self.delay = first_s, max_s, first_s

    def next(self) -> float:
        delay, self.delay = self.delay, min(self.delay * 2, self.max_s)
        return delay

    def reset(self) -> None:
        self.delay = self.first_s


class DeadLetters:
    """This job's offers that a worker gave up on (``listings.dead``), read incrementally.

    They will never complete, so they no longer count as in flight: a few poisoned offers
    neither block the job nor make it wait for ever."""

    def __init__(self, settings: Settings, job_id: uuid.UUID) -> None:
        self.key = settings.key(Stream.DEAD)
        self.job_id = str(job_id)
        self.ids: set[str] = set()
        self._last: str | None = None

    async def refresh(self, redis: Redis) -> int:
        while True:
            start = "-" if self._last is None else f"({self._last}"  # exclusive: after the last read
            entries: list[Any] = list(await redis.xrange(self.key, min=start, count=1000) or [])
            if not entries:
                return len(self.ids)
            for mid, fields in entries:
                self._last = mid.decode() if isinstance(mid, bytes) else str(mid)
                self._note(payload_of(fields))

    def _note(self, raw: bytes) -> None:
        try:
            letter = json.loads(raw)
            event = json.loads(letter["payload"])
            if str((event.get("origin") or {}).get("job_id")) == self.job_id:
                self.ids.add(str(event["submission_id"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            return  # not an event of ours (or not an event at all)


async def run_job(
    settings: Settings,
    job_id: uuid.UUID,
    options: RunOptions | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    runner: str | None = None,
) -> dict[str, Any]:
    """Run (or resume) ``job_id`` until it completes, is cancelled, stalls or is taken over by
    another runner; its final view."""
    opts = options or RunOptions()
    url = settings.effective_database_url
    me = runner or runner_name("cli")
    if not await asyncio.to_thread(_claim, url, job_id, me):
        return await asyncio.to_thread(_snapshot, url, job_id)
    dead = DeadLetters(settings, job_id)
    last_progress, last_change = (-1, -1), time.monotonic()
    last_beat = time.monotonic()
    outage, failed = Backoff(), False
    async with EventPublisher(settings) as publisher:
        while True:
            if not failed:
                outage.reset()
            failed = False
            try:
                if time.monotonic() - last_beat >= opts.heartbeat_interval_s:
                    last_beat = time.monotonic()
                    if not await asyncio.to_thread(_beat, url, job_id, me):
                        view = await asyncio.to_thread(_snapshot, url, job_id)
                        if view["status"] == "running":  # another runner holds the lease now
                            log.warning("job taken over", extra={"job_id": str(job_id), "by": view["runner"]})
                            return view
                view = await asyncio.to_thread(_snapshot, url, job_id)
                view["dead_lettered"] = len(dead.ids)
                view["in_flight"] = max(0, view["in_flight"] - len(dead.ids))
                if on_progress:
                    on_progress(view)
                if view["status"] != "running":
                    return view
                if (view["completed"], len(dead.ids)) != last_progress:
                    last_progress, last_change = (view["completed"], len(dead.ids)), time.monotonic()
                room = view["max_in_flight"] - view["in_flight"]
                size = min(opts.page_size, room)
                after, page = (
                    await asyncio.to_thread(_next_page, url, job_id, size) if room > 0 else (None, [])
                )
                if page:
                    await asyncio.to_thread(_record_submissions, url, page)
                    await publisher.publish(Stream.SUBMITTED, page)
                    cursor = page[-1].listing_id
                    if not await asyncio.to_thread(_record, url, job_id, after, cursor, len(page)):
                        continue  # cancelled, or another runner moved on: the next snapshot tells
                    log.info("page published", extra={"job_id": str(job_id), "count": len(page)})
                    continue
                if room > 0 and view["in_flight"] == 0:
                    note = None
                    if dead.ids:
                        note = (
                            f"{len(dead.ids)} offers were dead-lettered (see `catalog dlq list`); "
                            "replay them with `catalog dlq replay` once fixed"
                        )
                    await asyncio.to_thread(_finish, url, job_id, "completed", note)
                    continue
                if time.monotonic() - last_change > opts.stall_timeout_s:
                    error = (
                        f"{view['in_flight']} offers in flight, "
                        f"no progress for {opts.stall_timeout_s:.0f} s: "
                        "check that the workers run; resume with "
                        f"`catalog reclassify --resume {job_id}`"
                    )
                    await asyncio.to_thread(_finish, url, job_id, "failed", error)
                    continue
                await asyncio.sleep(opts.poll_interval_s)
                await dead.refresh(publisher.redis)
            except Exception as exc:
                if dependency_of(exc) is None:
                    raise
                # Redis restarting or the database away: wait and go on where the job stands
                # (its cursor and counts are in SQL; a page published twice is harmless).
                delay = outage.next()
                log.warning(
                    "reclassification paused: %s unavailable (%s: %s); retrying in %.1f s "
                    "(resume with `catalog reclassify --resume %s` if this process is stopped)",
                    dependency_of(exc),
                    type(exc).__name__,
                    exc,
                    delay,
                    job_id,
                    extra={"job_id": str(job_id)},
                )
                await asyncio.sleep(delay)
                last_change = time.monotonic()  # an outage is not a stall of the pipeline
                failed = True
