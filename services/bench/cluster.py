"""A private pipeline for benchmarks: its own redis-server, its own database, real worker processes.

Every worker is a separate ``catalog worker KIND`` process started by the same supervisor as
``catalog up``; events go through the real broker on a real Redis server (no embedded one, no
shared one), predictions into SQLite or PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from services.bench.stats import peak_rss_mb
from services.cli.registry import WORKERS
from services.cli.supervisor import ProcessSpec, Supervisor, redis_server
from shared.broker import EventPublisher
from shared.config import Settings
from shared.contract import ListingSubmitted, Stream
from shared.db.listings import to_utc
from shared.db.models import Prediction
from shared.db.session import migrate, session_scope


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def private_redis(port: int | None, folder: Path) -> Iterator[str]:
    """A throw-away redis-server (no persistence) on ``port`` (a free one when None): its URL."""
    port = port or free_port()
    redis = redis_server("redis", port, folder, persistent=False, log_path=folder / "redis.log")
    supervisor = Supervisor(os.environ, [redis])
    supervisor.start("redis")
    try:
        supervisor.wait_redis("redis", port, timeout_s=10)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        supervisor.stop_all(timeout_s=10)


def worker_env(settings: Settings) -> dict[str, str]:
    """The settings every child must share beyond Redis and the database."""
    import json

    env = {
        "CATALOG_MODEL_REPOSITORY": str(settings.model_repository),
        "CATALOG_STREAM_PREFIX": settings.stream_prefix,
        "CATALOG_TRANSLATOR": settings.translator,
        "CATALOG_IMAGE_ROOTS": json.dumps([str(p) for p in settings.image_roots]),
        "CATALOG_BATCH_SIZE": str(settings.batch_size),
        "CATALOG_INFERENCE_BACKEND": settings.inference_backend,
        "CATALOG_TRITON_URL": settings.triton_url,
        "CATALOG_LOG_LEVEL": "WARNING",
    }
    if settings.inference_threads:
        env["CATALOG_INFERENCE_THREADS"] = str(settings.inference_threads)
    return env


@dataclass
class Cluster:
    """The running workers of one benchmark."""

    settings: Settings
    supervisor: Supervisor

    @property
    def url(self) -> str:
        return self.settings.effective_database_url

    def peak_rss(self) -> dict[str, float | None]:
        return {
            spec.name: peak_rss_mb(spec.process.pid) if spec.process else None
            for spec in self.supervisor.specs
        }

    def stored(self) -> int:
        with session_scope(self.url) as session:
            return int(session.scalar(select(func.count()).select_from(Prediction)) or 0)

    async def wait_stored(self, count: int, timeout_s: float) -> int:
        """Poll until ``count`` predictions are stored; restarts crashed workers meanwhile."""
        deadline = time.monotonic() + timeout_s
        while True:
            stored = await asyncio.to_thread(self.stored)
            if stored >= count or time.monotonic() > deadline:
                return stored
            self.supervisor.poll()
            await asyncio.sleep(0.1)

    async def publish(self, events: Sequence[ListingSubmitted], chunk: int = 500) -> None:
        async with EventPublisher(self.settings) as publisher:
            for start in range(0, len(events), chunk):
                await publisher.publish(Stream.SUBMITTED, events[start : start + chunk])

    def timestamps(self, submission_ids: Sequence[Any]) -> list[dict[str, datetime]]:
        """Each stored prediction's stage timestamps plus ``written`` (the writer's commit time)."""
        rows: list[dict[str, datetime]] = []
        ids = list(submission_ids)
        with session_scope(self.url) as session:
            for start in range(0, len(ids), 500):
                query = select(Prediction.stage_timestamps, Prediction.written_at).where(
                    Prediction.submission_id.in_(ids[start : start + 500])
                )
                for stamps, written in session.execute(query):
                    ts = {k: to_utc(datetime.fromisoformat(v)) for k, v in (stamps or {}).items()}
                    ts["written"] = to_utc(written)
                    rows.append(ts)
        return rows


@contextlib.contextmanager
def cluster(
    settings: Settings, replicas: dict[str, int], extra_env: dict[str, str] | None = None
) -> Iterator[Cluster]:
    """Every worker kind as its own process(es), on ``settings``' Redis and database
    (``extra_env``: more settings for every child, e.g. a short job lease)."""
    migrate(settings.effective_database_url)
    specs = [
        ProcessSpec(f"{kind}-{i + 1}", ["worker", kind])
        for kind in WORKERS
        for i in range(replicas.get(kind, 1))
    ]
    supervisor = Supervisor.for_settings(
        settings, specs, extra_env={**worker_env(settings), **(extra_env or {})}
    )
    supervisor.start_all()
    try:
        yield Cluster(settings, supervisor)
    finally:
        supervisor.stop_all()
