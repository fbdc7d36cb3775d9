"""What ``catalog bench fullsize`` measures besides time: exactly-once in SQL, memory, machine load.

Kept apart from the orchestration (:mod:`services.bench.fullsize`) so each reads on its own:

- :func:`pass_counts`: per listing, how many predictions a pass stored (0 = lost, >1 =
  duplicated), in one SQL statement each, on the listings of the run (warm-up ones excluded);
- :class:`Sampler`: every few seconds the load average, predictions stored, the job's progress
  and Redis' memory, plus the peak RSS (``VmHWM``) of every watched process (a process that
  exits or is killed keeps its last reading) and its CPU seconds, so the JSON shows how a long
  run on a shared machine went, and the CPU per offer that the load does not change (much).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text

from services.bench.cpu import own_cpu_s
from services.bench.stats import peak_rss_mb
from shared.db.listings import to_utc
from shared.db.session import session_scope

WARMUP_PREFIX = "warmup-"
"""Listing ids of the warm-up offers (models loaded before the clock starts); not the run's."""

_PER_LISTING = """
SELECT
  (SELECT count(*) FROM listings WHERE listing_id NOT LIKE :warm) AS listings,
  (SELECT count(*) FROM listings l WHERE l.listing_id NOT LIKE :warm AND NOT EXISTS (
      SELECT 1 FROM predictions p WHERE p.listing_id = l.listing_id AND {cond})) AS lost,
  (SELECT count(*) FROM (SELECT p.listing_id FROM predictions p
      WHERE {cond} AND p.listing_id NOT LIKE :warm
      GROUP BY p.listing_id HAVING count(*) > 1) d) AS duplicated_listings,
  (SELECT count(*) FROM predictions p WHERE {cond} AND p.listing_id NOT LIKE :warm) AS predictions,
  (SELECT min(p.written_at) FROM predictions p WHERE {cond} AND p.listing_id NOT LIKE :warm) AS first_written,
  (SELECT max(p.written_at) FROM predictions p WHERE {cond} AND p.listing_id NOT LIKE :warm) AS last_written
"""


def pass_counts(url: str, job_id: uuid.UUID | None) -> dict[str, Any]:
    """Listings, lost (no prediction of the pass), duplicated (more than one) and the pass's
    prediction count and write span. The ingest pass is every prediction of no job."""
    cond = "p.job_id IS NULL" if job_id is None else "p.job_id = :job"
    params: dict[str, Any] = {"warm": f"{WARMUP_PREFIX}%"}
    if job_id is not None:
        params["job"] = job_id
    with session_scope(url) as session:
        row = session.execute(text(_PER_LISTING.format(cond=cond)), params).mappings().one()
    body = dict(row)
    body["extra_predictions"] = body["predictions"] - (body["listings"] - body["lost"])
    for key in ("first_written", "last_written"):
        value = body[key]
        if isinstance(value, str):  # SQLite returns text
            value = datetime.fromisoformat(value)
        body[key] = to_utc(value) if value is not None else None
    return body


def stored_count(url: str, job_id: uuid.UUID | None) -> int:
    """Predictions of a pass stored so far (cheap: the job index, or a count of no-job rows)."""
    cond = "job_id IS NULL" if job_id is None else "job_id = :job"
    params: dict[str, Any] = {"warm": f"{WARMUP_PREFIX}%"}
    if job_id is not None:
        params["job"] = job_id
    query = text(f"SELECT count(*) FROM predictions WHERE {cond} AND listing_id NOT LIKE :warm")
    with session_scope(url) as session:
        return int(session.execute(query, params).scalar_one())


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


async def redis_memory(client: Redis) -> dict[str, int]:
    info = await client.info("memory")
    return {"used_memory": int(info["used_memory"]), "used_memory_peak": int(info["used_memory_peak"])}


class Sampler:
    """Periodic samples of a long run and the peak RSS of every process it is told about."""

    def __init__(self, redis: Redis, every_s: float, note: Callable[[dict[str, Any]], None]) -> None:
        self.redis, self.every_s, self.note = redis, every_s, note
        self.samples: list[dict[str, Any]] = []
        self.peaks: dict[str, float | None] = {}
        self.cpu: dict[str, float] = {}
        """CPU seconds (user + system) of each watched process since it started, last reading."""
        self.pids: dict[str, int] = {}
        self.progress: Callable[[], dict[str, Any]] = dict
        self._started = time.monotonic()

    def watch(self, name: str, pid: int) -> None:
        self.pids[name] = pid
        self.read_peaks()

    def forget(self, name: str) -> None:
        """Stop reading ``name`` (its process is gone); its last peak stays."""
        self.read_peaks()
        self.pids.pop(name, None)

    def read_peaks(self) -> dict[str, float | None]:
        for name, pid in self.pids.items():
            value = peak_rss_mb(pid)
            if value is not None:
                self.peaks[name] = max(value, self.peaks.get(name) or 0.0)
            cpu = own_cpu_s(pid)
            if cpu is not None:
                self.cpu[name] = cpu
        return self.peaks

    def cpu_since(self, before: dict[str, float]) -> dict[str, float]:
        """CPU seconds of each process since the snapshot ``before`` (a process started since
        counts from 0; one gone keeps its last reading, at most a second old)."""
        self.read_peaks()
        return {name: round(cpu - before.get(name, 0.0), 2) for name, cpu in self.cpu.items()}

    async def sample(self) -> dict[str, Any]:
        self.read_peaks()
        point = {
            "t_s": round(time.monotonic() - self._started, 1),
            "utc": datetime.now().astimezone().isoformat(timespec="seconds"),
            "load_average": load_average(),
            **(await asyncio.to_thread(self.progress)),
            **(await redis_memory(self.redis)),
        }
        self.samples.append(point)
        self.note(point)
        return point

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Sample every ``every_s`` seconds (and read peaks every second) while in the block."""

        async def loop() -> None:
            last = 0.0
            while True:
                self.read_peaks()
                if time.monotonic() - last >= self.every_s:
                    last = time.monotonic()
                    with contextlib.suppress(Exception):  # a sample never stops the run
                        await self.sample()
                await asyncio.sleep(1.0)

        task = asyncio.get_running_loop().create_task(loop())
        try:
            yield
        finally:
            task.cancel()
