"""The writer's rollups of version agreement, shadow agreement and drift signals (migration 0011),
added in the same transaction as the predictions so the dashboards never scan predictions for them.

- ``version_pair_counts``: per pair of model versions, listings by (latest code under a, latest
  code under b), "latest" being the highest prediction id, as ``version_agreement`` defined it.
  A new prediction moves its listing from its old pairs to its new ones: the writer reads the
  batch's listings' stored predictions (their history index) *before* inserting, so it knows
  each listing's latest code per version.
- ``shadow_pair_counts``: each shadow prediction with the prediction of the submission it
  shadows, counted once whichever of the two is written first.
- ``drift_counts``: the drift signals of live ingested predictions per minute, hour and day.

Two writers holding predictions of one listing would each miss the other's uncommitted rows, so
on PostgreSQL each batch first takes a transaction-scoped advisory lock per listing (sorted: one
lock order); SQLite serialises writers anyway.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from itertools import combinations
from typing import Any

from sqlalchemy import Insert, and_, or_, select, text
from sqlalchemy.orm import Session

from shared.contract import ListingClassified
from shared.db.drift_signals import signal_values
from shared.db.listings import insert_for
from shared.db.models import (
    COUNT_SPANS,
    Base,
    DriftCount,
    Prediction,
    ShadowPairCount,
    VersionPairCount,
    count_bucket,
)

from .rollups import classified_at_of

LISTING_LOCK_CLASS = 0x61677265  # "agre": the advisory locks' first key, the listing's hash the second

Latest = dict[str, dict[str, tuple[int, int]]]
"""listing -> model version -> (prediction id, code) of its latest prediction under that version."""


def lock_listings(session: Session, listing_ids: Iterable[str]) -> None:
    """Serialise writers of the same listings until the transaction ends (PostgreSQL only)."""
    ids = sorted(set(listing_ids))
    if ids and session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "SELECT count(pg_advisory_xact_lock(:cls, hashtext(x))) FROM "
                "(SELECT x FROM unnest(CAST(:ids AS text[])) WITH ORDINALITY AS u(x, n) ORDER BY n) AS o"
            ),
            {"cls": LISTING_LOCK_CLASS, "ids": ids},
        )


def stored_latest(session: Session, listing_ids: Iterable[str]) -> Latest:
    """Each listing's latest stored prediction per model version (shadow ones included)."""
    latest: Latest = defaultdict(dict)
    ids = sorted(set(listing_ids))
    rows = session.execute(
        select(Prediction.listing_id, Prediction.model_version, Prediction.id, Prediction.prdtypecode).where(
            Prediction.listing_id.in_(ids)
        )
    )
    for listing, version, pid, code in rows:
        seen = latest[listing].get(version)
        if seen is None or pid > seen[0]:
            latest[listing][version] = (int(pid), int(code))
    return latest


def pair_deltas(
    before: Latest, new: Sequence[tuple[int, ListingClassified]]
) -> Counter[tuple[str, str, int, int]]:
    """What ``version_pair_counts`` gains (and loses) from the new predictions ``(id, event)``."""
    after: Latest = defaultdict(dict)
    for pid, event in sorted(new, key=lambda item: item[0]):
        listing = after[event.listing_id]
        if not listing:
            listing.update(before.get(event.listing_id, {}))
        listing[event.model_version] = (pid, event.prdtypecode)
    deltas: Counter[tuple[str, str, int, int]] = Counter()
    for listing_id, now in after.items():
        old = before.get(listing_id, {})
        changed = {v for v in now if old.get(v) != now[v]}
        for a, b in combinations(sorted(now), 2):
            if a not in changed and b not in changed:
                continue
            deltas[(a, b, now[a][1], now[b][1])] += 1
            if a in old and b in old:
                deltas[(a, b, old[a][1], old[b][1])] -= 1
    return Counter({key: n for key, n in deltas.items() if n})


def _add(
    session: Session, model: type[Any], keys: tuple[str, ...], counts: Mapping[tuple[Any, ...], int]
) -> None:
    """Add ``counts`` to ``model``'s ``count`` column, keyed by ``keys``, in key order."""
    if not counts:
        return
    rows = [{**dict(zip(keys, key, strict=True)), "count": n} for key, n in sorted(counts.items(), key=str)]
    session.execute(_upsert(session.get_bind().dialect.name, model.__tablename__, keys), rows)


@cache
def _upsert(dialect: str, name: str, keys: tuple[str, ...]) -> Insert:
    """The additive upsert of one rollup, built once per dialect (building costs more than running
    it for a small batch: issue 27)."""
    table = Base.metadata.tables[name]
    stmt = insert_for(dialect, table)
    return stmt.on_conflict_do_update(  # type: ignore[attr-defined,no-any-return]
        index_elements=list(keys),
        set_={"count": table.c["count"] + stmt.excluded["count"]},  # type: ignore[attr-defined]
    )


def add_to_version_pairs(
    session: Session, before: Latest, new: Sequence[tuple[int, ListingClassified]]
) -> None:
    _add(session, VersionPairCount, ("version_a", "version_b", "code_a", "code_b"), pair_deltas(before, new))


def add_to_shadow_pairs(session: Session, inserted: Sequence[ListingClassified]) -> None:
    """Pair each new shadow prediction with its live one (stored or new), and each new prediction
    with the shadows of it stored before this batch."""
    counts: Counter[tuple[str, str, int, int]] = Counter()
    shadows = {e.submission_id: e for e in inserted if e.shadow and e.shadow_of is not None}
    new = {e.submission_id: e for e in inserted}
    p = Prediction  # one round trip: the live predictions of new shadows, the stored shadows of new ones
    wanted = or_(
        p.submission_id.in_({e.shadow_of for e in shadows.values()}),
        and_(p.shadow_of.in_(list(new)), p.shadow.is_(True)),  # ix_predictions_shadow_of
    )
    live: dict[Any, tuple[str, int]] = {}
    for sid, shadow_of, shadow, version, code in session.execute(
        select(p.submission_id, p.shadow_of, p.shadow, p.model_version, p.prdtypecode).where(wanted)
    ):
        live[sid] = (version, int(code))
        if shadow and shadow_of in new and sid not in shadows:  # a stored shadow of a new prediction
            live_event = new[shadow_of]
            counts[(live_event.model_version, version, live_event.prdtypecode, int(code))] += 1
    for event in shadows.values():  # new shadows, their live prediction stored before or now
        found = live.get(event.shadow_of)
        if found is not None:
            counts[(found[0], event.model_version, found[1], event.prdtypecode)] += 1
    _add(session, ShadowPairCount, ("live_version", "shadow_version", "live_code", "shadow_code"), counts)


def add_to_drift(session: Session, events: Sequence[ListingClassified], written_at: datetime) -> None:
    """Add the live ingested ``events``' signal values to their minute, hour and day."""
    counts: Counter[tuple[Any, ...]] = Counter()
    for event in events:
        if event.shadow or event.origin.kind != "ingest":
            continue
        at = classified_at_of(event, written_at)
        values = signal_values(event.confidence, event.language, event.image_missing_reason)
        for span in COUNT_SPANS:
            bucket = count_bucket(at, span)
            for signal, value in values.items():
                counts[(span, bucket, event.model_version, signal, value)] += 1
    _add(session, DriftCount, ("span_s", "bucket_start", "model_version", "signal", "value"), counts)
