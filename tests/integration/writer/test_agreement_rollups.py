"""The writer's agreement and drift rollups (migration 0011) equal a recomputation from the stored
predictions (``shared.db.rollup_backfill``, what the migration and the bulk seeder run), on both
databases: batches holding one listing twice, shadows written before, with and after their live
prediction, redelivered batches, several versions per listing; and the dashboards' readers give
what the old scans gave."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from services.api.queries import _pairs_postgresql, version_agreement
from services.writer.store import write_predictions
from shared.contract import ListingClassified, Origin, utcnow
from shared.db.models import DriftCount, ShadowPairCount, VersionPairCount
from shared.db.rollup_backfill import backfill_drift, backfill_shadow_pairs, backfill_version_pairs
from shared.db.session import engine_for, session_scope, upgrade
from shared.lifecycle.drift import _raw_counts, window_counts
from tests.support.factories import classified_event

ROLLUPS: list[tuple[Any, Callable[[Connection], None]]] = [
    (VersionPairCount, backfill_version_pairs),
    (ShadowPairCount, backfill_shadow_pairs),
    (DriftCount, backfill_drift),
]


def _events(rng: random.Random) -> list[list[ListingClassified]]:
    """Batches of live predictions (three versions, two origins) and shadow ones, in an order that
    puts some shadows before their live prediction and some in the same batch."""
    start = utcnow() - timedelta(hours=30)
    live: list[ListingClassified] = []
    for k in range(160):
        event = classified_event(
            f"L{rng.randrange(25):03d}",
            rng.choice([10, 40, 50, 60]),
            round(rng.uniform(0.05, 1.0), 3),
            model_version=rng.choice(["r1", "r2", "r3"]),
            submitted_at=start + timedelta(minutes=11 * k, seconds=rng.randrange(60)),
            origin=Origin(kind=rng.choice(["ingest", "ingest", "reclassify"]), job_id=None),
        )
        live.append(
            event.model_copy(
                update={
                    "language": rng.choice(["fr", "en", None]),
                    "image_missing_reason": rng.choice([None, None, "not_found"]),
                }
            )
        )
    shadows = [
        classified_event(e.listing_id, rng.choice([10, 40]), 0.5, model_version="c9").model_copy(
            update={"shadow": True, "shadow_of": e.submission_id}
        )
        for e in live[::4]
    ]
    mixed: list[ListingClassified] = list(live)
    for i, shadow in enumerate(shadows):  # before, with or after its live prediction
        at = next(j for j, e in enumerate(mixed) if e.submission_id == shadow.shadow_of)
        mixed.insert(max(0, at + (i % 3) * 3 - 3), shadow)
    batches, i = [], 0
    while i < len(mixed):
        size = rng.choice([1, 3, 8])
        batches.append(mixed[i : i + size])
        i += size
    return [*batches, batches[5], batches[9] + batches[10]]  # redelivered


def _nonzero(url: str, model: Any) -> dict[tuple[Any, ...], int]:
    with session_scope(url) as s:
        rows = s.execute(select(model.__table__)).mappings().all()
    return {tuple(v for k, v in row.items() if k != "count"): row["count"] for row in rows if row["count"]}


@pytest.mark.parametrize("backend", ["postgres_url", "sqlite_url"])
def test_writer_rollups_equal_a_recomputation(backend: str, request: pytest.FixtureRequest) -> None:
    url: str = request.getfixturevalue(backend)
    upgrade(url)
    for batch in _events(random.Random(25)):
        with session_scope(url) as s:
            write_predictions(s, batch, sequence={})
    written = {model: _nonzero(url, model) for model, _ in ROLLUPS}
    assert all(written.values())
    with engine_for(url).begin() as conn:
        for model, backfill in ROLLUPS:
            conn.execute(delete(model))
            backfill(conn)
    for model, _ in ROLLUPS:
        assert _nonzero(url, model) == written[model], model.__tablename__

    with session_scope(url) as s:  # the readers: as the scans before the rollups
        for a, b in (("r1", "r2"), ("r3", "r1")):
            report = version_agreement(s, a, b)
            if s.get_bind().dialect.name == "postgresql":
                scanned = _pairs_postgresql(s, a, b)
                assert report["compared"] == sum(n for _, _, n in scanned) > 0
                assert report["agreed"] == sum(n for x, y, n in scanned if x == y)
        now = utcnow()
        for start, end in ((now - timedelta(days=2), now), (now - timedelta(hours=7, seconds=13), now)):
            for version in (None, "r2"):
                assert window_counts(s, start, end, version) == _raw_counts(s, start, end, version)
