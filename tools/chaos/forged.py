"""The chaos suite's untrusted events (issue 24 F, G): forged and future-stamped entries written
straight to the streams, as anyone who can reach Redis could.

Each must be dead-lettered with its reason (:data:`shared.trust.TRUST_REASONS`) by every group
reading its stream and never become a listing's current result (the suite's store checks: a stored forged
prediction counts as a duplicate of an unknown id, a recorded forged submission as lost or stale).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from shared.contract import ListingSubmitted, Stream
from shared.db.models import Listing
from shared.db.session import session_scope
from tests.support.factories import classified_event

FORGED_PREFIX = "chaos-forged-live-"
"""Markers of forged entries (live lane: the dead letters' lane check reads the prefix)."""
FUTURE = datetime(2099, 1, 1, tzinfo=UTC)


def forged_entries(database_url: str) -> list[tuple[Stream, str, str]]:
    """(stream, marker, JSON payload) of the forgeries, aimed at a listing that exists."""
    with session_scope(database_url) as session:
        target = session.scalars(select(Listing.listing_id).order_by(Listing.listing_id).limit(1)).first()
    listing = target or "chaos-missing"
    entries: list[tuple[Stream, str, str]] = []

    def marker() -> str:
        return f"{FORGED_PREFIX}{uuid.uuid4().hex[:12]}"

    pinned = ListingSubmitted.new(listing, title=(m := marker())).stamped("submitted", FUTURE)
    entries.append((Stream.SUBMITTED, m, pinned.model_dump_json()))
    for listing_id, stamp in ((listing, None), (listing, FUTURE), (None, None)):
        m = marker()
        event = classified_event(listing_id or m, 10, model_version="r-chaos-forged")
        event = event.model_copy(update={"label": m})
        if stamp is not None:
            event = event.model_copy(update={"timestamps": {**event.timestamps, "submitted": stamp}})
        entries.append((Stream.CLASSIFIED, m, event.model_dump_json()))
    return entries
