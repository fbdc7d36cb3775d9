"""Events are not trusted for time: a publisher's clock never decides which result is current.

Workers that take events from outside (``listings.submitted`` may be written by marketplace
ingestion, ``listings.classified`` by anyone who can reach Redis) refuse an event stamped
further in the future than ``CATALOG_MAX_CLOCK_SKEW_S``: it is dead-lettered with the reason.
Which submission of a listing is current is decided by the ledger's sequence
(``submissions.seq``), which the store assigns (docs/reliability.md, "Events that are not trusted").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from shared.broker import Reject
from shared.contract import Envelope, utcnow

E = TypeVar("E", bound=Envelope)
TRUST_REASONS = ("future_timestamp", "unknown_submission", "listing_mismatch", "unknown_model_version")
"""How a dead letter that refuses an untrusted event begins: it condemns that event, not the
submission it names (the reconciler does not close that submission for it)."""
log = logging.getLogger(__name__)


def to_utc(value: datetime) -> datetime:
    """Aware UTC (a naive stamp is read as UTC, as the contract's JSON is)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def future_stamp(event: Envelope, max_skew_s: float, now: datetime | None = None) -> str | None:
    """Why ``event`` is refused (a stage stamped more than ``max_skew_s`` ahead), or None."""
    limit = to_utc(now or utcnow()) + timedelta(seconds=max_skew_s)
    for stage, stamp in sorted(event.timestamps.items()):
        if to_utc(stamp) > limit:
            ahead = (to_utc(stamp) - limit).total_seconds() + max_skew_s
            return (
                f"future_timestamp: {stage}={to_utc(stamp).isoformat()} is {ahead:.0f}s ahead of this "
                f"clock (CATALOG_MAX_CLOCK_SKEW_S={max_skew_s:g})"
            )
    return None


def refuse_future(events: Sequence[E], max_skew_s: float) -> tuple[list[E], list[Reject]]:
    """(events within the clock skew, rejections of the others, with the reason)."""
    kept: list[E] = []
    refused: list[Reject] = []
    now = utcnow()
    for event in events:
        reason = future_stamp(event, max_skew_s, now)
        if reason is None:
            kept.append(event)
        else:
            log.warning("event refused", extra={"submission_id": str(event.submission_id), "error": reason})
            refused.append(Reject(event, error=reason))
    return kept, refused
