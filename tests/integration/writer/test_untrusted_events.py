"""Events the pipeline must not trust (issue 24 F, G), on real SQLite and PostgreSQL stores.

- a publisher's clock never decides which result is current: the ledger's order does, and a
  stamp beyond ``CATALOG_MAX_CLOCK_SKEW_S`` is dead-lettered (``future_timestamp``);
- a submission published straight to ``listings.submitted`` is recorded by the first worker;
- the writer stores results only for recorded submissions of known model versions and
  dead-letters the rest with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services.language import worker as language
from services.language.logic import Preparer
from services.reconciler.reconciler import dead_submission
from services.writer import worker as writer
from shared.broker import Emit, Reject
from shared.config import Settings
from shared.contract import DeadLetter, ListingClassified, ListingSubmitted, utcnow
from shared.db.listings import upsert_listings
from shared.db.models import Listing, Prediction, Submission
from shared.db.session import session_scope
from shared.db.submissions import record_submissions
from tests.ledger import versions_repository
from tests.support.factories import classified_event

FUTURE = datetime(2099, 1, 1, tzinfo=utcnow().tzinfo)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url"))


@pytest.fixture
async def deps(url: str, tmp_path: Path) -> writer.Deps:
    repo = versions_repository(tmp_path / "repo", "r1", "r2")
    return await writer.open_deps(Settings(database_url=url, model_repository=repo), redis=None)  # type: ignore[arg-type]


def publish(url: str, *offers: ListingSubmitted) -> None:
    """What the API does: the content and the ledger row, then the event is published."""
    with session_scope(url) as session:
        upsert_listings(session, offers)
        record_submissions(session, offers)


def classified(offer: ListingSubmitted, code: int, **changes: object) -> ListingClassified:
    event = classified_event(offer.listing_id, code, submission_id=offer.submission_id)
    stamps = {**event.timestamps, "submitted": offer.timestamps["submitted"]}
    return event.model_copy(update={"timestamps": stamps, **changes})


def current(url: str, listing_id: str) -> Listing | None:
    with session_scope(url) as session:
        row = session.get(Listing, listing_id)
        if row is not None:
            session.expunge(row)
        return row


def refusals(outcomes: Sequence[object]) -> list[str]:
    assert all(isinstance(o, Reject) for o in outcomes), outcomes
    return [o.error.split(":")[0] for o in outcomes if isinstance(o, Reject)]


async def test_the_ledger_order_decides_the_current_result_not_the_publisher_clock(
    url: str, deps: writer.Deps
) -> None:
    first = ListingSubmitted.new("L1", title="chaise")
    second = ListingSubmitted.new("L1", title="chaise en bois")
    # the second publisher's clock is 4 minutes behind (within the skew): recorded later all the same
    second = second.stamped("submitted", first.timestamps["submitted"] - timedelta(minutes=4))
    publish(url, first)
    publish(url, second)
    assert await writer.store([classified(second, 10)], deps) == []
    assert await writer.store([classified(first, 2280)], deps) == []  # the older one, classified late
    listing = current(url, "L1")
    assert listing is not None and listing.current_submission_id == second.submission_id
    assert listing.current_prdtypecode == 10
    with session_scope(url) as session:
        seqs = {s.submission_id: s.seq for s in session.scalars(select(Submission))}
    assert seqs[first.submission_id] < seqs[second.submission_id]  # type: ignore[operator]


async def test_future_stamped_and_forged_events_are_dead_lettered_and_never_current(
    url: str, deps: writer.Deps
) -> None:
    genuine = ListingSubmitted.new("L2", title="lampe")
    publish(url, genuine)
    assert await writer.store([classified(genuine, 10)], deps) == []
    stranger = ListingSubmitted.new("L2", title="lampe")  # never recorded (forged classified)
    other = ListingSubmitted.new("L3", title="table")
    publish(url, other)
    forged = [
        classified(genuine, 40, timestamps={**classified(genuine, 40).timestamps, "submitted": FUTURE}),
        classified(stranger, 40),
        classified(ListingSubmitted.new("phantom", title=""), 40),
        classified(other, 40, listing_id="L2"),
        classified(genuine, 40, model_version="r999"),
    ]
    outcomes = await writer.store(forged, deps)
    assert refusals(outcomes) == [
        "future_timestamp",
        "unknown_submission",
        "unknown_submission",
        "listing_mismatch",
        "unknown_model_version",
    ]
    assert [o.event for o in outcomes if isinstance(o, Reject)] == forged  # the original events
    listing = current(url, "L2")
    assert listing is not None and listing.current_prdtypecode == 10
    assert listing.current_submission_id == genuine.submission_id
    assert current(url, "phantom") is None  # no phantom listing
    with session_scope(url) as session:
        assert {p.prdtypecode for p in session.scalars(select(Prediction))} == {10}
    # a later genuine submission still becomes current
    later = ListingSubmitted.new("L2", title="lampe de bureau")
    publish(url, later)
    assert await writer.store([classified(later, 2280)], deps) == []
    assert current(url, "L2").current_submission_id == later.submission_id  # type: ignore[union-attr]


async def test_a_submission_published_straight_to_the_stream_is_recorded_on_entry(
    url: str, deps: writer.Deps, tmp_path: Path
) -> None:
    settings = Settings(database_url=url, translator="none")
    prep = language.Deps(Preparer.from_settings(settings), url, settings.max_clock_skew_s)
    direct = ListingSubmitted.new("L4", title="vélo de course")
    future = ListingSubmitted.new("L4", title="vélo").stamped("submitted", FUTURE)
    outcomes = await language.prepare([direct, future], prep)
    assert [type(o) for o in outcomes] == [Reject, Emit]
    assert refusals(outcomes[:1]) == ["future_timestamp"] and outcomes[0].event is future  # type: ignore[union-attr]
    again = await language.prepare([direct], prep)  # redelivered: recorded once, content kept
    assert len(again) == 1
    with session_scope(url) as session:
        ledger = {s.submission_id: s for s in session.scalars(select(Submission))}
        content = session.get(Listing, "L4")
        assert content is not None and content.title == "vélo de course"
    assert set(ledger) == {direct.submission_id} and ledger[direct.submission_id].seq is not None
    assert await writer.store([classified(direct, 10)], deps) == []
    assert current(url, "L4").current_submission_id == direct.submission_id  # type: ignore[union-attr]


def test_a_refused_forgery_does_not_close_the_genuine_submission_it_names() -> None:
    """The reconciler closes the submissions dead letters name; a letter refusing a forged
    event (which may carry a genuine submission id) condemns the event, not the submission."""
    genuine = ListingSubmitted.new("L5", title="x")
    forged = classified(genuine, 40, model_version="r999")

    def letter(error: str) -> bytes:
        dead = DeadLetter(
            stream="listings.classified",
            worker="writer",
            reason="handler_rejected",
            error=error,
            attempts=1,
            payload=forged.model_dump_json(),
        )
        return dead.model_dump_json().encode()

    assert dead_submission(letter("unknown_model_version: 'r999' is not in the model repository")) is None
    assert dead_submission(letter("future_timestamp: submitted=2099-01-01 ...")) is None
    assert dead_submission(letter("boom")) == (genuine.submission_id, "handler_rejected")
