"""The chaos suite's forged entries decode (so they reach the trust checks, not the decoder) and
each carries its marker, aimed at a listing that exists."""

from __future__ import annotations

from shared.contract import EVENT_OF_STREAM, ListingClassified, ListingSubmitted, Stream
from shared.db.listings import upsert_listings
from shared.db.session import migrate, session_scope
from tools.chaos.forged import FORGED_PREFIX, FUTURE, forged_entries


def test_forged_entries_decode_and_carry_their_marker(sqlite_url: str) -> None:
    migrate(sqlite_url)
    with session_scope(sqlite_url) as session:
        upsert_listings(session, [ListingSubmitted.new("L-1", title="x")])
    entries = forged_entries(sqlite_url)
    assert [stream for stream, _, _ in entries] == [Stream.SUBMITTED] + [Stream.CLASSIFIED] * 3
    events = [EVENT_OF_STREAM[stream].model_validate_json(payload) for stream, _, payload in entries]
    assert all(marker.startswith(FORGED_PREFIX) and marker in payload for _, marker, payload in entries)
    submitted, *classified = events
    assert isinstance(submitted, ListingSubmitted) and submitted.timestamps["submitted"] == FUTURE
    assert submitted.listing_id == "L-1"
    assert all(isinstance(c, ListingClassified) for c in classified)
    assert [c.listing_id for c in classified][:2] == ["L-1", "L-1"]  # type: ignore[attr-defined]
