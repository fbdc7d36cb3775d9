"""A SQL outage longer than reclaim x deliveries consumes no delivery (issue 24 A).

The writer runs against a scratch PostgreSQL database that is then closed to every client
(``ALTER DATABASE ... ALLOW_CONNECTIONS false`` and its sessions terminated: new connections
fail with ``OperationalError``), for many times ``reclaim_idle_ms`` x ``max_deliveries``.
Before the fix every offer in flight was dead-lettered (``max_deliveries``) during it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import redis.asyncio as aredis
from sqlalchemy import func, select

from services.writer.worker import create_worker
from shared.broker import EventPublisher
from shared.config import Settings
from shared.contract import Stream
from shared.db.models import Prediction
from shared.db.session import engine_for, session_scope, set_connections_allowed
from shared.dependencies import DependencyUnavailable, dependency_of
from tests.conftest import POSTGRES_ADMIN_URL, REDIS_URL
from tests.ledger import record, versions_repository
from tests.support.factories import classified_event
from tests.waiting import eventually


def up(worker: str, dependency: str) -> float | None:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("catalog_dependency_up", {"worker": worker, "dependency": dependency})


def stored(url: str) -> int:
    with session_scope(url) as session:
        return int(session.scalar(select(func.count()).select_from(Prediction)) or 0)


async def test_writer_holds_work_through_a_sql_outage(
    redis_prefix: str, postgres_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        database_url=postgres_url,
        model_repository=versions_repository(tmp_path, "r1"),
        batch_size=4,
        reclaim_idle_ms=200,
        max_deliveries=2,
    )
    client = aredis.Redis.from_url(REDIS_URL)
    first = [classified_event(f"O-{i}", 10) for i in range(3)]
    during = [classified_event(f"O-{i}", 40) for i in range(3, 12)]
    record(postgres_url, [*first, *during])  # the writer stores only recorded submissions
    worker = create_worker(settings)
    try:
        async with worker.running(), EventPublisher(settings) as pub:
            await pub.publish(Stream.CLASSIFIED, first)
            await eventually(lambda: stored(postgres_url) == 3)
            set_connections_allowed(POSTGRES_ADMIN_URL, postgres_url, False)
            await pub.publish(Stream.CLASSIFIED, during)
            await eventually(lambda: "sql" in worker.outages.down)
            # Outlast reclaim_idle_ms x max_deliveries (0.4 s) many times over.
            await asyncio.sleep(4)
            assert await client.xlen(settings.key(Stream.DEAD)) == 0
            await worker.health.beat_once()
            ready, body = worker.health.ready()
            assert not ready and "sql" in body["checks"]["outage"]
            assert up("writer", "sql") == 0
            set_connections_allowed(POSTGRES_ADMIN_URL, postgres_url, True)
            await eventually(lambda: stored(postgres_url) == 12, timeout_s=60)
            assert not worker.outages.down and up("writer", "sql") == 1
            await worker.health.beat_once()
            assert worker.health.ready()[0]
        assert await client.xlen(settings.key(Stream.DEAD)) == 0
        pending = await client.xpending(settings.key(Stream.CLASSIFIED), "writer")
        assert pending["pending"] == 0
    finally:
        set_connections_allowed(POSTGRES_ADMIN_URL, postgres_url, True)
        engine_for(postgres_url).dispose()
        await client.aclose()


async def test_a_failure_that_persists_once_the_dependency_works_counts_deliveries(
    redis_prefix: str,
) -> None:
    """The one way out of holding: the same outage error again while the dependency answers
    its probe (Redis answers PING: the message is at fault), so it still ends dead-lettered."""
    from shared.broker import Consumer, Emit, WorkerApp, WorkerSpec
    from shared.contract import ListingSubmitted

    async def handler(events: list[ListingSubmitted], deps: None) -> list[Emit]:
        if any(e.title == "always" for e in events):
            raise DependencyUnavailable("looks like an outage, is not", "redis")
        return []

    async def open_deps(settings: Settings, redis: aredis.Redis) -> None:
        return None

    spec: WorkerSpec[None] = WorkerSpec(
        name="holder",
        consumes=(Consumer(Stream.SUBMITTED, ListingSubmitted, handler, batch=False),),
        publishes=(),
        open=open_deps,
    )
    settings = Settings(
        redis_url=REDIS_URL, stream_prefix=redis_prefix, reclaim_idle_ms=200, max_deliveries=2
    )
    client = aredis.Redis.from_url(REDIS_URL)
    try:
        async with WorkerApp.from_spec(spec, settings).running(), EventPublisher(settings) as pub:
            await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("bad", "always")])
            await eventually(lambda: client.xlen(settings.key(Stream.DEAD)), timeout_s=60)
            letters: Any = await client.xrange(settings.key(Stream.DEAD))
            assert b"max_deliveries" in letters[0][1][b"__data__"]
    finally:
        await client.aclose()


def test_outage_errors_are_told_from_bad_input() -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from sqlalchemy.exc import DataError, OperationalError

    assert dependency_of(OperationalError("SELECT 1", {}, Exception("Connection refused"))) == "sql"
    assert dependency_of(DataError("INSERT", {}, Exception("value too long"))) is None
    assert dependency_of(RedisConnectionError("refused")) == "redis"
    try:
        try:
            raise RedisConnectionError("refused")
        except RedisConnectionError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert dependency_of(wrapped) == "redis"
    assert dependency_of(ValueError("bad input")) is None


async def test_triton_unreachable_is_an_outage_of_triton() -> None:
    """A Triton that does not answer (here: nothing listens on the port) is an outage, held
    by the broker helper, not an inference error that counts deliveries."""
    import socket

    import numpy as np

    from shared.inference.backend import BackendUnavailable
    from shared.inference.triton import TritonBackend

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for protocol in ("grpc", "http"):
        backend = TritonBackend(f"127.0.0.1:{port}", protocol, timeout_s=5)
        try:
            await backend.infer("text_m", 1, {"x": np.zeros((1, 2), np.float32)}, "logits")
        except BackendUnavailable as exc:
            assert dependency_of(exc) == "triton"
        else:
            raise AssertionError(f"{protocol}: inference without a server succeeded")
        finally:
            await backend.close()


async def test_a_writer_started_while_sql_is_away_waits_for_it(
    redis_prefix: str, postgres_url: str, tmp_path: Path
) -> None:
    """Before, the writer's start (its migration) failed and the process exited: a crash loop
    for as long as the database was away."""
    settings = Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        database_url=postgres_url,
        model_repository=versions_repository(tmp_path, "r1"),
    )
    event = classified_event("W-1", 10)
    record(postgres_url, [event])
    set_connections_allowed(POSTGRES_ADMIN_URL, postgres_url, False)
    engine_for(postgres_url).dispose()

    async def reopen_later() -> None:
        await asyncio.sleep(2)
        await asyncio.to_thread(set_connections_allowed, POSTGRES_ADMIN_URL, postgres_url, True)

    reopening = asyncio.create_task(reopen_later())
    try:
        async with create_worker(settings).running(), EventPublisher(settings) as pub:
            assert reopening.done()  # the start waited for the database
            await pub.publish(Stream.CLASSIFIED, [event])
            await eventually(lambda: stored(postgres_url) == 1)
    finally:
        await reopening
        set_connections_allowed(POSTGRES_ADMIN_URL, postgres_url, True)
        engine_for(postgres_url).dispose()
