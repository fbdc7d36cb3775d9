"""The writer's SQL logic on SQLite: idempotent inserts, newest-wins listings, job progress."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from services.writer import store
from services.writer.store import newest_per_listing, prediction_row, write_predictions
from shared.contract import ListingSubmitted, Origin, utcnow
from shared.db.listings import as_utc, upsert_listings
from shared.db.models import Category, Listing, Prediction, PredictionMinute, ReclassificationJob
from shared.db.session import session_scope, upgrade
from tests.support.factories import classified_event


@pytest.fixture
def db(sqlite_url: str) -> str:
    upgrade(sqlite_url)
    return sqlite_url


def count(url: str, model: type) -> int:
    with session_scope(url) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_same_event_twice_gives_one_prediction(db: str) -> None:
    event = classified_event("A1", 2280, 0.8)
    with session_scope(db) as s:
        first = write_predictions(s, [event, event])
    with session_scope(db) as s:
        again = write_predictions(s, [event])
    assert (first.inserted, first.duplicates) == (1, 1)
    assert (again.inserted, again.duplicates) == (0, 1)
    assert count(db, Prediction) == 1


def test_listing_moves_only_to_a_newer_prediction(db: str) -> None:
    t0 = utcnow()
    new = classified_event("A1", 2280, 0.9, submitted_at=t0)
    old = classified_event("A1", 10, 0.4, submitted_at=t0 - timedelta(minutes=5))
    with session_scope(db) as s:
        write_predictions(s, [new])
    with session_scope(db) as s:
        write_predictions(s, [old])  # late arrival: history only
    with session_scope(db) as s:
        listing = s.get(Listing, "A1")
        assert listing is not None
        assert listing.current_prdtypecode == 2280
        assert listing.current_submission_id == new.submission_id
        assert as_utc(listing.classified_at) == new.timestamps["classified"]
    assert count(db, Prediction) == 2


def test_newest_submission_wins_over_an_older_one_classified_later(db: str) -> None:
    """Defect 1: a slow or retried older submission (submitted 60 s ago, classified now) must
    not replace a newer one (submitted 5 s ago, classified 2 s ago)."""
    now = utcnow()
    newer = classified_event("S1", 2280, 0.9, submitted_at=now - timedelta(seconds=5), latency_s=3)
    older = classified_event("S1", 10, 0.8, submitted_at=now - timedelta(seconds=60), latency_s=60)
    assert older.timestamps["classified"] > newer.timestamps["classified"]
    with session_scope(db) as s:
        write_predictions(s, [newer])
    with session_scope(db) as s:
        write_predictions(s, [older])
    with session_scope(db) as s:
        write_predictions(s, [older, newer])  # both in one batch, redelivered: same answer
    with session_scope(db) as s:
        listing = s.get(Listing, "S1")
        assert listing is not None
        assert (listing.current_submission_id, listing.current_prdtypecode) == (newer.submission_id, 2280)
        assert as_utc(listing.current_submitted_at) == newer.timestamps["submitted"]
    assert count(db, Prediction) == 2
    kept = newest_per_listing([newer, older], now)
    assert [e.submission_id for e in kept] == [newer.submission_id]


def test_newest_per_listing_keeps_latest_classification() -> None:
    t0 = utcnow()
    a = classified_event("A", 10, submitted_at=t0)
    b = classified_event("A", 40, submitted_at=t0 + timedelta(seconds=3))
    c = classified_event("B", 50, submitted_at=t0)
    kept = {e.listing_id: e.prdtypecode for e in newest_per_listing([b, a, c], t0)}
    assert kept == {"A": 40, "B": 50}


def test_ingest_upsert_keeps_current_category(db: str) -> None:
    with session_scope(db) as s:
        write_predictions(s, [classified_event("A1", 2280)])
    with session_scope(db) as s:
        upsert_listings(s, [ListingSubmitted.new("A1", title="Nouveau titre", image_uri="file:///x.jpg")])
    with session_scope(db) as s:
        listing = s.get(Listing, "A1")
        assert listing is not None
        assert (listing.title, listing.image_uri, listing.current_prdtypecode) == (
            "Nouveau titre",
            "file:///x.jpg",
            2280,
        )


def test_job_progress_counts_new_reclassify_rows_once(db: str) -> None:
    job_id = uuid.uuid4()
    now = utcnow()
    with session_scope(db) as s:
        s.add(
            ReclassificationJob(
                id=job_id,
                status="running",
                max_in_flight=10,
                total=2,
                published=2,
                completed=0,
                created_at=now,
                updated_at=now,
            )
        )
    origin = Origin(kind="reclassify", job_id=job_id)
    events = [classified_event(f"J{i}", 10, origin=origin) for i in range(2)]
    live = classified_event("LIVE", 10)
    for _ in range(2):  # redelivery of the same batch
        with session_scope(db) as s:
            write_predictions(s, [*events, live])
    with session_scope(db) as s:
        job = s.get(ReclassificationJob, job_id)
        assert job is not None and job.completed == 2


def test_unknown_category_from_a_model_is_added(db: str) -> None:
    event = classified_event("A1", 2280).model_copy(update={"prdtypecode": 999999, "label": "Nouveau"})
    with session_scope(db) as s:
        write_predictions(s, [event])
    with session_scope(db) as s:
        cat = s.get(Category, 999999)
        assert cat is not None and cat.label == "Nouveau"


def test_minute_sums_count_each_new_prediction_once(db: str) -> None:
    t0 = utcnow().replace(second=5, microsecond=0)
    fast = classified_event("A", 10, submitted_at=t0, latency_s=1.0)
    slow = classified_event("B", 10, submitted_at=t0 + timedelta(seconds=2), latency_s=3.0)
    for _ in range(2):  # the second batch is a redelivery
        with session_scope(db) as s:
            write_predictions(s, [fast, slow])
    with session_scope(db) as s:
        (row,) = s.scalars(select(PredictionMinute)).all()
    assert (row.count, row.latency_n, row.latency_sum, row.latency_max) == (2, 2, 4.0, 3.0)
    assert row.language_sum == pytest.approx(0.2 + 0.6)  # "prepared" at 20% of each latency
    assert as_utc(row.bucket_start) == t0.replace(second=0)


def test_a_batch_larger_than_one_statement_is_written_whole(db: str) -> None:
    events = [classified_event(f"B{i}", 10) for i in range(1203)]
    with session_scope(db) as s:
        assert write_predictions(s, events).inserted == 1203
    with session_scope(db) as s:
        again = write_predictions(s, events[::-1])
    assert (again.inserted, again.duplicates) == (0, 1203)
    assert count(db, Prediction) == 1203


def test_a_full_insert_statement_stays_under_the_bound_parameter_limits() -> None:
    """Every column of a row is a bound parameter: a full statement must fit SQLite's 32,766."""
    row = prediction_row(classified_event("P1", 2280, 0.8), utcnow())
    assert set(row) <= set(Prediction.__table__.columns.keys())
    assert len(row) == 21  # the count store._ROWS_PER_STATEMENT's docstring gives
    assert len(row) * store._ROWS_PER_STATEMENT <= 32_766
