"""The reconciler on PostgreSQL and the real Redis: submissions with a prediction or a dead
letter are closed, the others are re-published after the deadline with their original id."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from services.reconciler.reconciler import overdue_count, reconcile_once
from services.writer.store import write_predictions
from shared.broker import EventPublisher, read_events
from shared.config import Settings
from shared.contract import DeadLetter, ListingSubmitted, Origin, Stream, utcnow
from shared.db.listings import upsert_listings
from shared.db.models import Submission
from shared.db.session import migrate, session_scope
from shared.db.submissions import count_overdue, mark_republished, overdue_submissions, record_submissions
from tests.conftest import REDIS_URL
from tests.support.factories import classified_event


def dead_letter(event: ListingSubmitted, reason: str) -> DeadLetter:
    return DeadLetter(
        stream=str(Stream.SUBMITTED), message_id="1-0", worker="language", consumer="c",
        reason=reason, error="no", attempts=1, payload=event.model_dump_json(),  # type: ignore[arg-type]
    )  # fmt: skip


def test_overdue_submissions_are_republished_once_with_their_id(redis_prefix: str, postgres_url: str) -> None:
    import asyncio

    settings = Settings(redis_url=REDIS_URL, stream_prefix=redis_prefix, database_url=postgres_url)
    migrate(postgres_url)
    done, dead, lost = (ListingSubmitted.new(f"L-{name}", name) for name in ("done", "dead", "lost"))
    with session_scope(postgres_url) as session:
        upsert_listings(session, [done, dead, lost])
        record_submissions(session, [done, dead, lost])
        write_predictions(session, [classified_event("L-done", 10, submission_id=done.submission_id)])
    assert overdue_count(settings, older_than_s=0) == 2

    async def scenario() -> None:
        async with EventPublisher(settings) as pub:
            await pub.publish(Stream.DEAD, [dead_letter(dead, "handler_rejected")])
            report = await reconcile_once(settings, pub, older_than_s=0)
            assert (report.closed_dead, report.closed_predicted) == (1, 1)
            assert (report.overdue, report.republished) == (1, 1)
            again = await reconcile_once(settings, pub, older_than_s=3600)
            assert (again.dead_letters_read, again.overdue, again.republished) == (0, 0, 0)

    asyncio.run(scenario())
    events = asyncio.run(read_events(settings, Stream.SUBMITTED, ListingSubmitted, 1, timeout_s=10))
    assert [(e.submission_id, e.listing_id, e.title) for e in events] == [
        (lost.submission_id, "L-lost", "lost")
    ]
    assert events[0].timestamps["submitted"] == lost.timestamps["submitted"]
    with session_scope(postgres_url) as session:
        rows = {r.listing_id: r for r in session.query(Submission)}
    assert (rows["L-done"].outcome, rows["L-dead"].outcome, rows["L-dead"].dead_reason) == (
        "predicted", "dead", "handler_rejected",
    )  # fmt: skip
    assert (rows["L-lost"].outcome, rows["L-lost"].republished) == (None, 1)


def test_the_deadline_doubles_at_each_republication(sqlite_url: str) -> None:
    migrate(sqlite_url)
    offer = ListingSubmitted.new("L-slow", "slow")
    with session_scope(sqlite_url) as session:
        upsert_listings(session, [offer])
        record_submissions(session, [offer])
    start = utcnow()

    def overdue_at(seconds: float) -> int:
        with session_scope(sqlite_url) as session:
            return count_overdue(session, 10, now=start + timedelta(seconds=seconds))

    def republish() -> None:
        with session_scope(sqlite_url) as session:
            mark_republished(session, overdue_submissions(session, 0, 10), 10)

    assert (overdue_at(5), overdue_at(15)) == (0, 1)
    republish()  # due again 1x the deadline later
    assert (overdue_at(5), overdue_at(15)) == (0, 1)
    republish()  # then 2x
    assert (overdue_at(15), overdue_at(25)) == (0, 1)


def test_a_bulk_jobs_overdue_submission_goes_back_on_the_bulk_lane(sqlite_url: str) -> None:
    migrate(sqlite_url)
    live = ListingSubmitted.new("L-live", "live")
    job = ListingSubmitted.new("L-job", "job", origin=Origin(kind="reclassify", job_id=uuid4()), lane="bulk")
    with session_scope(sqlite_url) as session:
        upsert_listings(session, [live, job])
        record_submissions(session, [live, job])
        rebuilt = {o.listing_id: o.event for o in overdue_submissions(session, 0, 10)}
    assert {lid: e.lane for lid, e in rebuilt.items() if e is not None} == {"L-live": "live", "L-job": "bulk"}


async def test_the_reconciler_worker_republishes_in_its_background_task(
    redis_prefix: str, sqlite_url: str
) -> None:
    """The worker's passes run as its ``WorkerSpec.background`` task with the publisher it opened
    (and closes at the end): a lost submission comes back on ``listings.submitted``."""
    from services.reconciler.worker import create_worker

    settings = Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        database_url=sqlite_url,
        reconcile_after_s=0.01,
        reconcile_interval_s=0.2,
        metrics_port=None,
    )
    migrate(sqlite_url)
    lost = ListingSubmitted.new("L-lost", "lost")
    with session_scope(sqlite_url) as session:
        upsert_listings(session, [lost])
        record_submissions(session, [lost])
    async with create_worker(settings).running():
        events = await read_events(settings, Stream.SUBMITTED, ListingSubmitted, 1, timeout_s=60)
    assert [e.submission_id for e in events] == [lost.submission_id]


def test_dead_letters_read_by_a_pass_that_fails_in_sql_are_read_again(
    redis_prefix: str, postgres_url: str
) -> None:
    """The dead-letter cursor moves only after the SQL commit (issue 24 B): before, a pass
    with the database down advanced it, and those letters were never recorded in the ledger."""
    import asyncio

    import pytest

    from shared.db.session import engine_for, set_connections_allowed
    from tests.conftest import POSTGRES_ADMIN_URL

    settings = Settings(redis_url=REDIS_URL, stream_prefix=redis_prefix, database_url=postgres_url)
    migrate(postgres_url)
    dead = ListingSubmitted.new("L-dead", "dead")
    with session_scope(postgres_url) as session:
        upsert_listings(session, [dead])
        record_submissions(session, [dead])

    async def scenario() -> None:
        async with EventPublisher(settings) as pub:
            await pub.publish(Stream.DEAD, [dead_letter(dead, "max_deliveries")])
            set_connections_allowed(POSTGRES_ADMIN_URL, postgres_url, False)
            try:
                with pytest.raises(Exception, match=r"(?i)connect|terminat|accept"):
                    await reconcile_once(settings, pub, older_than_s=3600)
            finally:
                set_connections_allowed(POSTGRES_ADMIN_URL, postgres_url, True)
                engine_for(postgres_url).dispose()
            report = await reconcile_once(settings, pub, older_than_s=3600)
            assert (report.dead_letters_read, report.closed_dead) == (1, 1)
            again = await reconcile_once(settings, pub, older_than_s=3600)
            assert (again.dead_letters_read, again.closed_dead) == (0, 0)

    asyncio.run(scenario())
    with session_scope(postgres_url) as session:
        row = session.get(Submission, dead.submission_id)
        assert row is not None and (row.outcome, row.dead_reason) == ("dead", "max_deliveries")
