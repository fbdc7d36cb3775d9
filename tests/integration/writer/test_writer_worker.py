"""The writer worker against real Redis and PostgreSQL: redelivery never duplicates a row."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from services.writer.worker import create_worker, write_batch
from shared.broker import EventPublisher
from shared.config import Settings
from shared.contract import Origin, Stream, utcnow
from shared.db.models import Listing, Prediction, ReclassificationJob
from shared.db.session import alembic_config, migrate, session_scope, upgrade
from tests.conftest import REDIS_URL
from tests.ledger import record, versions_repository
from tests.support.factories import classified_event


def head_revision() -> str:

    return str(ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head())


def settings_for(prefix: str, url: str, repo: Path) -> Settings:
    return Settings(
        redis_url=REDIS_URL, stream_prefix=prefix, database_url=url, batch_size=8, model_repository=repo
    )


async def wait_for_rows(url: str, n: int, timeout_s: float = 30.0) -> int:
    deadline = time.monotonic() + timeout_s
    found = 0
    while time.monotonic() < deadline:
        with session_scope(url) as s:
            found = int(s.scalar(select(func.count()).select_from(Prediction)) or 0)
        if found >= n:
            return found
        await asyncio.sleep(0.1)
    return found


async def test_redelivered_event_is_stored_once(redis_prefix: str, postgres_url: str, tmp_path: Path) -> None:
    settings = settings_for(redis_prefix, postgres_url, versions_repository(tmp_path, "r1"))
    event = classified_event("P-1", 2280, 0.77)
    other = classified_event("P-2", 10, 0.5)
    marker = classified_event("P-3", 40)
    record(postgres_url, [event, other, marker])
    async with create_worker(settings).running(), EventPublisher(settings) as pub:
        await pub.publish(Stream.CLASSIFIED, [event, event, other])
        await pub.publish(Stream.CLASSIFIED, [event])  # a later redelivery
        await pub.publish(Stream.CLASSIFIED, [marker])  # processed after the duplicates
        assert await wait_for_rows(postgres_url, 3) == 3
        with session_scope(postgres_url) as s:
            assert (
                s.scalar(select(func.count()).select_from(Prediction).where(Prediction.listing_id == "P-1"))
                == 1
            )
            # the marker is consumed after the duplicates: they were all handled by now
            assert s.get(Listing, "P-3") is not None
            listing = s.get(Listing, "P-1")
            assert listing is not None and listing.current_submission_id == event.submission_id
    with session_scope(postgres_url) as s:
        assert s.scalar(select(func.count()).select_from(Prediction)) == 3


def test_batch_upserts_on_postgres_with_concurrent_listing_updates(postgres_url: str) -> None:
    """Several predictions of one listing in one batch (PostgreSQL refuses a double upsert)."""
    upgrade(postgres_url)
    job_id = uuid.uuid4()
    now = utcnow()
    with session_scope(postgres_url) as s:
        s.add(
            ReclassificationJob(
                id=job_id,
                status="running",
                max_in_flight=5,
                total=3,
                published=3,
                completed=0,
                created_at=now,
                updated_at=now,
            )
        )
    origin = Origin(kind="reclassify", job_id=job_id)
    events = [classified_event("X", 10, origin=origin) for i in range(3)]
    first = write_batch(postgres_url, events)
    again = write_batch(postgres_url, events)
    assert (first.inserted, again.inserted, again.duplicates) == (3, 0, 3)
    with session_scope(postgres_url) as s:
        job = s.get(ReclassificationJob, job_id)
        assert job is not None and job.completed == 3
        listing = s.get(Listing, "X")
        latest = max(events, key=lambda e: (e.timestamps["classified"], str(e.submission_id)))
        assert listing is not None and listing.current_submission_id == latest.submission_id


@pytest.mark.parametrize("db", ["postgres_url", "sqlite_url"])
def test_concurrent_migrations_at_start_do_not_race(db: str, request: pytest.FixtureRequest) -> None:
    """The API and several writer replicas start together, each migrating the database."""
    url: str = request.getfixturevalue(db)
    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(migrate, url) for _ in range(4)]:
            future.result()
    with session_scope(url) as s:
        assert s.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
