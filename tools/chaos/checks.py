"""The checks of the fault-injection suite, on what SQL and the dead-letter stream hold at the end.

- one prediction per submission the store recorded (none lost, none duplicated, none unknown);
- every submission the API accepted (202) is recorded;
- every listing shows its newest submission (the latest the ledger recorded: ``seq``);
- the dead letters are exactly those of the poisoned and forged entries (a forged one with a
  trust reason, ``chaos_forged.py``): one per (entry,
  consumer group), counted once per (group, entry id) since a redelivered dead letter is the
  same one published twice.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from shared.broker import payload_of
from shared.contract import DeadLetter, Stream
from shared.db.models import Listing, Prediction, Submission
from shared.db.session import session_scope
from shared.trust import TRUST_REASONS
from tools.chaos.forged import FORGED_PREFIX


def count_open(db_url: str, submitted_until: datetime | None = None) -> int:
    """Recorded submissions with neither a prediction nor a dead letter yet (only those
    submitted until ``submitted_until``, when given)."""
    with session_scope(db_url) as session:
        predicted = select(Prediction.submission_id).where(
            Prediction.submission_id == Submission.submission_id
        )
        query = (
            select(func.count())
            .select_from(Submission)
            .where(Submission.outcome.is_distinct_from("dead"), ~predicted.exists())
        )
        if submitted_until is not None:
            query = query.where(Submission.submitted_at <= submitted_until)
        return int(session.execute(query).scalar_one())


def dead_letters(redis_port: int, prefix: str) -> list[tuple[str, DeadLetter]]:
    import redis

    client = redis.Redis(port=redis_port)
    try:
        entries: Any = client.xrange(f"{prefix}{Stream.DEAD}")
    except redis.RedisError:
        return []
    finally:
        client.close()
    return [(mid.decode(), DeadLetter.model_validate_json(payload_of(fields))) for mid, fields in entries]


@dataclass
class Verdict:
    submitted: int = 0
    stored: int = 0
    duplicates: int = 0
    lost: int = 0
    dead_letters: int = 0
    raw_dead_letters: int = 0
    republished: int = 0
    listings: int = 0
    stale_listings: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def detail(self, elapsed_s: float) -> str:
        return (
            f"chaos: listings={self.listings} stale_listings={self.stale_listings} "
            f"republished_by_reconciler={self.republished} raw_dead_letters={self.raw_dead_letters} "
            f"elapsed={elapsed_s:.0f}s"
        )

    def summary(self, expected_dead: int) -> str:
        return (
            f"chaos: submitted={self.submitted} stored={self.stored} duplicates={self.duplicates} "
            f"lost={self.lost} dead_letters={self.dead_letters} expected_dead={expected_dead}"
        )


def check_store(
    db_url: str,
    redis_port: int,
    prefix: str,
    accepted: list[uuid.UUID],
    poisons: list[tuple[str, str]],
) -> Verdict:
    from services.cli.registry import consumers_of

    v = Verdict()
    with session_scope(db_url) as session:
        recorded = {
            sid: (listing, seq)
            for sid, listing, seq in session.execute(
                select(Submission.submission_id, Submission.listing_id, Submission.seq)
            )
        }
        per_id = Counter(sid for (sid,) in session.execute(select(Prediction.submission_id)))
        republished = select(func.coalesce(func.sum(Submission.republished), 0))
        v.republished = int(session.execute(republished).scalar_one())
        current = dict(session.execute(select(Listing.listing_id, Listing.current_submission_id)).all())
    v.submitted = len(recorded)
    v.stored = sum(1 for sid in recorded if sid in per_id)
    v.lost = v.submitted - v.stored
    unknown = [sid for sid in per_id if sid not in recorded]
    v.duplicates = sum(c - 1 for c in per_id.values()) + len(unknown)
    not_recorded = [sid for sid in accepted if sid not in recorded]
    if not_recorded:
        v.problems.append(f"{len(not_recorded)} accepted submissions were never recorded")
    if v.lost:
        v.problems.append(f"lost={v.lost}: e.g. {[str(s) for s in recorded if s not in per_id][:5]}")
    if v.duplicates:
        v.problems.append(f"duplicates={v.duplicates} (unknown submission ids: {len(unknown)})")

    newest: dict[str, tuple[Any, uuid.UUID]] = {}
    for sid, (listing, seq) in recorded.items():
        if listing not in newest or seq > newest[listing][0]:
            newest[listing] = (seq, sid)
    v.listings = len(newest)
    stale = [lid for lid, (_, sid) in newest.items() if current.get(lid) != sid]
    v.stale_listings = len(stale)
    if stale:
        v.problems.append(f"{len(stale)} listings do not show their newest submission: e.g. {stale[:5]}")

    letters = dead_letters(redis_port, prefix)
    v.raw_dead_letters = len(letters)
    markers = {marker: stream for stream, marker in poisons}
    seen: set[tuple[str, str | None, str]] = set()
    unexpected: list[str] = []
    for entry_id, letter in letters:
        marker = next((m for m in markers if m in letter.payload), None)
        if marker is None:
            unexpected.append(f"{entry_id} {letter.worker} {letter.reason}: {letter.error[:100]}")
            continue
        seen.add((letter.worker, letter.message_id, marker))
        if marker.startswith(FORGED_PREFIX) and not letter.error.startswith(TRUST_REASONS):
            v.problems.append(f"{entry_id}: forged entry {marker} dead-lettered for {letter.error[:80]!r}")
        if (letter.lane == "bulk") != marker.startswith("chaos-poison-bulk-"):
            v.problems.append(f"{entry_id}: dead letter of {marker} names the {letter.lane} lane")
    v.dead_letters = len(seen)
    if unexpected:
        v.problems.append(
            f"{len(unexpected)} dead letters for offers that were not poisoned: {unexpected[:3]}"
        )
    for stream, marker in poisons:
        groups = set(consumers_of(Stream(stream)))
        got = {worker for worker, _, m in seen if m == marker}
        if got != groups:
            v.problems.append(
                f"poisoned entry {marker} on {stream}: dead-lettered by {sorted(got)}, "
                f"expected {sorted(groups)}"
            )
    return v
