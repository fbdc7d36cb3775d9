"""Each dashboard query on a seeded database (PostgreSQL and SQLite), checked against the
same numbers computed in Python from the raw rows."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from services.api.queries import (
    PredictionFilter,
    category_distribution,
    listing_detail,
    model_versions_seen,
    review_queue,
    throughput_and_lag,
    version_agreement,
)
from services.bench.seed import seed_database
from shared.contract import utcnow
from shared.db.listings import as_utc
from shared.db.models import Listing, Prediction
from shared.db.session import session_scope, upgrade

N, LISTINGS = 240, 120


@pytest.fixture(params=["postgres_url", "sqlite_url"])
def seeded(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(request.param)
    upgrade(url)
    seed_database(url, N, n_listings=LISTINGS, days=1.0, chunk=100)
    return url


def test_distribution_counts_every_prediction_and_filters(seeded: str) -> None:
    with session_scope(seeded) as s:
        preds = s.scalars(select(Prediction)).all()
        everything = category_distribution(s, PredictionFilter())
        r2 = category_distribution(s, PredictionFilter(model_version="r2"))
        reclassify = category_distribution(s, PredictionFilter(origin="reclassify"))
        cutoff = utcnow() - timedelta(hours=12)
        recent = category_distribution(s, PredictionFilter(since=cutoff))
    assert everything["total"] == N == sum(c["count"] for c in everything["categories"])
    assert {c["prdtypecode"]: c["count"] for c in everything["categories"]} == Counter(
        p.prdtypecode for p in preds
    )
    assert r2["total"] == sum(p.model_version == "r2" for p in preds) == N - LISTINGS
    assert reclassify["total"] == r2["total"]  # the seed tags version r2 as reclassify
    expected_recent = sum(as_utc(p.classified_at) >= cutoff for p in preds)  # type: ignore[operator]
    assert recent["total"] == expected_recent and 0 < expected_recent < N


def test_review_queue_lists_low_confidence_listings_least_confident_first(seeded: str) -> None:
    with session_scope(seeded) as s:
        queue = review_queue(s, threshold=0.5, limit=10)
        listings = s.scalars(select(Listing)).all()
    low = sorted(
        (lst.current_confidence, lst.listing_id)
        for lst in listings
        if lst.current_confidence is not None and lst.current_confidence < 0.5
    )
    assert queue["total"] == len(low) > 10
    assert [i["listing_id"] for i in queue["items"]] == [lid for _, lid in low[:10]]
    first = queue["items"][0]  # each item carries its prediction's top categories
    assert first["top_k"][0]["prdtypecode"] == first["prdtypecode"] and len(first["top_k"]) >= 2


def test_throughput_and_lag_cover_every_prediction(seeded: str) -> None:
    with session_scope(seeded) as s:
        result = throughput_and_lag(s, PredictionFilter(), bucket_s=3600)
        preds = s.scalars(select(Prediction)).all()
    assert sum(p["count"] for p in result["points"]) == N
    assert 24 <= len(result["points"]) <= 26
    lags = [(as_utc(p.classified_at) - as_utc(p.submitted_at)).total_seconds() for p in preds]  # type: ignore[operator]
    assert max(pt["lag_max_s"] for pt in result["points"]) == pytest.approx(max(lags), abs=1e-3)
    stages = result["stage_mean_s"]
    assert stages["total"] == pytest.approx(sum(lags) / len(lags), abs=1e-3)
    # the seed puts "prepared" at 20% of the latency
    assert stages["language"] == pytest.approx(0.2 * stages["total"], abs=1e-3)
    assert stages["fusion"] == pytest.approx(0.3 * stages["total"], abs=1e-3)  # image at 70%
    writer = [(as_utc(p.written_at) - as_utc(p.classified_at)).total_seconds() for p in preds]  # type: ignore[operator]
    assert stages["writer"] == pytest.approx(sum(writer) / len(writer), abs=1e-2)


def test_version_agreement_matches_pairs(seeded: str) -> None:
    with session_scope(seeded) as s:
        result = version_agreement(s, "r1", "r2")
        preds = s.scalars(select(Prediction)).all()
    by_version = {(p.model_version, p.listing_id): p.prdtypecode for p in preds}
    pairs = [(by_version[("r1", f"L{i:08d}")], by_version[("r2", f"L{i:08d}")]) for i in range(LISTINGS)]
    assert result["compared"] == LISTINGS
    assert result["agreed"] == sum(a == b for a, b in pairs)
    top = result["top_changes"][0]
    assert top["count"] == max(Counter((a, b) for a, b in pairs if a != b).values())


def test_listing_detail_has_history_newest_first_and_versions(seeded: str) -> None:
    with session_scope(seeded) as s:
        detail = listing_detail(s, "L00000007")
        missing = listing_detail(s, "nope")
        versions = model_versions_seen(s)
    assert missing is None
    assert detail is not None and [h["model_version"] for h in detail["history"]] == ["r2", "r1"]
    assert detail["current"]["submission_id"] == detail["history"][0]["submission_id"]
    assert {v["model_version"]: v["count"] for v in versions} == {"r1": LISTINGS, "r2": N - LISTINGS}
