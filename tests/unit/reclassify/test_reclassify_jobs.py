"""Job bookkeeping on SQLite: keyset pages, the persisted cursor, deterministic ids, cancel."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.writer.store import write_predictions
from shared.contract import ListingSubmitted, utcnow
from shared.db.jobs import (
    JobFilter,
    cancel_job,
    create_job,
    get_job,
    job_view,
    next_page,
    record_page,
    set_status,
    submission_id_for,
)
from shared.db.listings import upsert_listings
from shared.db.session import session_scope, upgrade
from tests.support.factories import classified_event


@pytest.fixture
def db(sqlite_url: str) -> str:
    upgrade(sqlite_url)
    offers = [
        ListingSubmitted.new(f"K{i:03d}", title=f"t{i}", image_uri=f"file:///i/{i}.jpg") for i in range(23)
    ]
    with session_scope(sqlite_url) as s:
        upsert_listings(s, list(reversed(offers)))
        write_predictions(s, [classified_event(f"K{i:03d}", 10 if i % 2 else 40) for i in range(23)])
    return sqlite_url


def test_pages_walk_every_listing_once_in_key_order(db: str) -> None:
    seen: list[str] = []
    with session_scope(db) as s:
        job = create_job(s, JobFilter(), max_in_flight=100, status="running")
    while True:
        with session_scope(db) as s:
            current = get_job(s, job.id)
            after, page = current.cursor, next_page(s, current, 5)
            if not page:
                break
            assert record_page(s, job.id, after, page[-1].listing_id, len(page))
        seen += [e.listing_id for e in page]
        assert all(e.origin.kind == "reclassify" and e.origin.job_id == job.id for e in page)
    assert seen == [f"K{i:03d}" for i in range(23)]
    with session_scope(db) as s:
        view = job_view(get_job(s, job.id))
    assert (view["published"], view["cursor"], view["total"]) == (23, "K022", 23)


def test_events_carry_the_stored_content_and_stable_ids(db: str) -> None:
    with session_scope(db) as s:
        job = create_job(s, JobFilter(), max_in_flight=10)
        first = next_page(s, job, 2)
        again = next_page(s, job, 2)  # the cursor did not move: the same page, the same ids
    assert [e.submission_id for e in first] == [e.submission_id for e in again]
    assert (
        first[0].submission_id == submission_id_for(job.id, "K000") != submission_id_for(uuid.uuid4(), "K000")
    )
    assert (first[0].title, first[0].image_uri) == ("t0", "file:///i/0.jpg")


def test_filters_count_and_select(db: str) -> None:
    with session_scope(db) as s:
        odd = create_job(s, JobFilter(category=10), 10)
        r1 = create_job(s, JobFilter(model_version="r1"), 10)
        future = create_job(s, JobFilter(since=utcnow() + timedelta(days=1)), 10)
        assert (odd.total, r1.total, future.total) == (11, 23, 0)
        assert {e.listing_id for e in next_page(s, odd, 100)} == {f"K{i:03d}" for i in range(1, 23, 2)}


def test_a_cancelled_job_refuses_its_next_page_and_stays_cancelled(db: str) -> None:
    with session_scope(db) as s:
        job = create_job(s, JobFilter(), 10, status="running")
        cancelled = cancel_job(s, job.id)
        assert cancelled.status == "cancelled" and cancelled.finished_at is not None
        assert not record_page(s, job.id, None, "K004", 5)
        assert not set_status(s, job.id, "running")  # a resume does not revive it
        assert get_job(s, job.id).published == 0


def test_a_second_runner_of_the_same_page_does_not_count_it_twice(db: str) -> None:
    with session_scope(db) as s:
        job = create_job(s, JobFilter(), 10, status="running")
        page = next_page(s, job, 5)  # two runners read the same page after cursor None
    with session_scope(db) as s:
        assert record_page(s, job.id, None, page[-1].listing_id, 5)
        assert not record_page(s, job.id, None, page[-1].listing_id, 5)
        assert (get_job(s, job.id).published, get_job(s, job.id).cursor) == (5, "K004")
