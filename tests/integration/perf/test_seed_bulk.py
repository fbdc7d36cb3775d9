"""The bulk seeder of ``catalog bench queries`` leaves what the writer would have: its rows,
replayed through the writer's own ``write_predictions`` (one event at a time, each with its write
time) into a second database, give the same current listings, per-minute sums, per-category
counts, version and shadow agreement pairs and drift signal counts; and the ledger holds one closed
entry per live prediction, in order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from services.bench.seed_bulk import SeedSpec, seed_bulk
from services.writer.rollups import COUNT_KEYS
from services.writer.store import write_predictions
from shared.contract import SCHEMA_VERSION, CategoryScore, ListingClassified, Origin
from shared.db.listings import as_utc
from shared.db.models import (
    DriftCount,
    Listing,
    Prediction,
    PredictionCount,
    PredictionMinute,
    ShadowPairCount,
    Submission,
    VersionPairCount,
)
from shared.db.session import scratch_database, session_scope, upgrade
from tests.conftest import POSTGRES_ADMIN_URL

SPEC = SeedSpec(n_predictions=300, n_listings=120, days=0.3, shadow_every=7, label_every=10, seed=3)


def _event(p: Prediction) -> ListingClassified:
    """The ``listings.classified`` event the writer would have stored as ``p``."""
    return ListingClassified(
        schema_version=SCHEMA_VERSION,
        submission_id=p.submission_id,
        listing_id=p.listing_id,
        origin=Origin(kind=p.origin, job_id=None),  # type: ignore[arg-type]
        timestamps={k: datetime.fromisoformat(v) for k, v in p.stage_timestamps.items()},
        prdtypecode=p.prdtypecode,
        label=p.top_k[0]["label"],
        confidence=p.confidence,
        top_k=[CategoryScore(**entry) for entry in p.top_k],
        modalities=p.modalities.split(","),
        model_version=p.model_version,
        model_versions=p.model_versions,
        language=p.language,
        translation_status=p.translation_status,  # type: ignore[arg-type]
        image_missing_reason=None,
        decision=p.decision,  # type: ignore[arg-type]
        shadow=p.shadow,
        shadow_of=p.shadow_of,
    )


def _rows(url: str, model: Any, keys: tuple[str, ...]) -> dict[tuple[Any, ...], dict[str, Any]]:
    with session_scope(url) as s:
        out = {}
        for row in s.execute(select(model.__table__)).mappings():
            values: dict[str, Any] = {k: as_utc(v) if isinstance(v, datetime) else v for k, v in row.items()}
            if "stage_timestamps" in values:  # PostgreSQL writes 06.82525 where Python writes 06.825250
                values["stage_timestamps"] = {
                    k: datetime.fromisoformat(v) for k, v in values["stage_timestamps"].items()
                }
            out[tuple(values[k] for k in keys)] = values
        return out


def _same(seeded: dict[Any, dict[str, Any]], written: dict[Any, dict[str, Any]], skip: set[str]) -> None:
    """Equal row for row; sums of seconds to the microsecond the stamps are rounded to."""
    assert seeded.keys() == written.keys() and seeded
    for key, row in written.items():
        for column, value in row.items():
            if column in skip:
                continue
            if isinstance(value, float):
                assert seeded[key][column] == pytest.approx(value, rel=1e-6, abs=1e-5), (key, column)
            else:
                assert seeded[key][column] == value, (key, column)


def test_bulk_seed_equals_what_the_writer_leaves(postgres_url: str) -> None:
    upgrade(postgres_url)
    seed_bulk(postgres_url, SPEC, chunk=128)  # several chunks
    with session_scope(postgres_url) as s:
        preds = s.scalars(select(Prediction).order_by(Prediction.id)).all()
        ledger = s.execute(select(Submission.submission_id, Submission.seq, Submission.outcome)).all()
        replay = [(_event(p), p.id, as_utc(p.written_at)) for p in preds]
    assert len([p for p in preds if not p.shadow]) == SPEC.n_predictions
    assert {p.model_version for p in preds} == {"r1", "r2", "r3"} and sum(p.shadow for p in preds) > 3
    assert {p.decision for p in preds if p.model_version == "r2"} == {"auto", "review"}
    assert sorted(ledger) == sorted((p.submission_id, p.id, "predicted") for p in preds if not p.shadow)
    with scratch_database(POSTGRES_ADMIN_URL, "catalog_test") as writer_url:
        upgrade(writer_url)
        with session_scope(writer_url) as s:
            for event, seq, written_at in replay:  # as the writer got them: one batch each
                write_predictions(
                    s, [event], now=written_at, sequence={} if event.shadow else {event.submission_id: seq}
                )
        _same(
            _rows(postgres_url, PredictionCount, COUNT_KEYS),
            _rows(writer_url, PredictionCount, COUNT_KEYS),
            set(),
        )
        for model, keys in (
            (VersionPairCount, ("version_a", "version_b", "code_a", "code_b")),
            (ShadowPairCount, ("live_version", "shadow_version", "live_code", "shadow_code")),
            (DriftCount, ("span_s", "bucket_start", "model_version", "signal", "value")),
        ):  # migration 0011's rollups (the writer may keep a pair a listing left at 0)
            seeded, written = _rows(postgres_url, model, keys), _rows(writer_url, model, keys)
            _same(seeded, {k: v for k, v in written.items() if v["count"]}, set())
        minute = ("bucket_start", "origin", "model_version")
        _same(
            _rows(postgres_url, PredictionMinute, minute), _rows(writer_url, PredictionMinute, minute), set()
        )
        content = {
            "title",
            "description",
            "image_uri",
            "created_at",
            "updated_at",
        }  # ingestion's, not the writer's
        _same(
            _rows(postgres_url, Listing, ("listing_id",)),
            _rows(writer_url, Listing, ("listing_id",)),
            content,
        )
        by_id = ("submission_id",)  # and the writer stores each replayed event as the seeder did
        _same(_rows(postgres_url, Prediction, by_id), _rows(writer_url, Prediction, by_id), {"id", "top_k"})
