"""Drift scores on predictions stored by the writer's own code (SQLite): a synthetic drift
crosses the alert threshold, an unchanged stream does not."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import numpy as np
import pytest

from shared.contract import utcnow
from shared.db.session import session_scope, upgrade
from shared.lifecycle.drift import drift_report, psi, training_reference
from shared.ml.model_repo import Manifest
from tests.integration.lifecycle.helpers import CODES, manifest, write
from tests.support.factories import classified_event

SHARES = {10: 0.4, 40: 0.3, 1280: 0.2, 2583: 0.1}
LANGUAGES = {"fr": 0.75, "en": 0.15, "de": 0.1}
NOW = utcnow().replace(microsecond=0)


def reference_manifest() -> Manifest:
    rng = np.random.default_rng(0)
    counts = {str(code): int(share * 1000) for code, share in SHARES.items()}
    confidences = rng.beta(5, 2, 500)
    has_image = rng.random(500) > 0.2
    return manifest(1, 0.8, reference=training_reference(counts, confidences, has_image))


def stream(
    n: int,
    start: datetime,
    seed: int,
    shares: dict[int, float] = SHARES,
    languages: dict[str, float] = LANGUAGES,
    version: str = "r1-gate",
) -> list:  # type: ignore[type-arg]
    """``n`` live predictions over the hour after ``start``."""
    rng = random.Random(seed)
    conf = np.random.default_rng(seed).beta(5, 2, n)
    events = []
    for i in range(n):
        code = rng.choices(list(shares), list(shares.values()))[0]
        event = classified_event(
            f"S{seed}-{i}",
            code,
            float(conf[i]),
            model_version=version,
            submitted_at=start + timedelta(seconds=3500 * i / n),
            latency_s=0.5,
        )
        events.append(
            event.model_copy(
                update={
                    "language": rng.choices(list(languages), list(languages.values()))[0],
                    "image_missing_reason": "no_image" if rng.random() < 0.2 else None,
                }
            )
        )
    return events


@pytest.fixture
def db(sqlite_url: str) -> str:
    upgrade(sqlite_url)
    # a baseline two days ago: the language mix's reference (training never saw languages)
    write(sqlite_url, stream(600, NOW - timedelta(days=2), seed=1))
    return sqlite_url


def report(url: str) -> dict:  # type: ignore[type-arg]
    with session_scope(url) as session:
        return drift_report(session, reference_manifest(), now=NOW, window_s=3600, baseline_s=7 * 86400)


def test_psi_is_zero_for_equal_distributions_and_grows_with_the_shift() -> None:
    base = {"a": 0.5, "b": 0.5}
    assert psi(base, base) == 0.0
    assert 0 < psi({"a": 0.6, "b": 0.4}, base) < psi({"a": 0.9, "b": 0.1}, base)


def test_an_unchanged_stream_stays_below_the_threshold(db: str) -> None:
    write(db, stream(600, NOW - timedelta(seconds=3590), seed=2))
    result = report(db)
    assert result["alert"] is False and result["score"] is not None and result["score"] < 0.1
    assert {s["status"] for s in result["signals"].values()} == {"ok"}
    assert result["signals"]["class_shares"]["reference"] == "training"
    assert result["signals"]["language"]["reference"] == "baseline"
    assert result["signals"]["class_shares"]["n"] == 600


def test_a_tripled_class_share_raises_the_class_signal_past_its_threshold(db: str) -> None:
    drifted = {10: 0.4 * 0.4 / 0.8, 40: 0.3 * 0.4 / 0.8, 1280: 0.6, 2583: 0.1 * 0.4 / 0.8}  # 1280 x3
    write(db, stream(600, NOW - timedelta(seconds=3590), seed=3, shares=drifted))
    result = report(db)
    assert result["alert"] is True
    assert result["signals"]["class_shares"]["status"] == "alert"
    assert result["signals"]["class_shares"]["psi"] >= 0.25
    assert result["signals"]["language"]["status"] == "ok"


def test_a_new_language_raises_the_language_signal_past_its_threshold(db: str) -> None:
    mix = {"fr": 0.6, "en": 0.12, "de": 0.08, "ja": 0.2}
    write(db, stream(600, NOW - timedelta(seconds=3590), seed=4, languages=mix))
    result = report(db)
    assert result["alert"] is True
    assert result["signals"]["language"]["status"] == "alert"
    assert result["signals"]["language"]["recent"]["ja"] == pytest.approx(0.2, abs=0.05)
    assert result["signals"]["class_shares"]["status"] == "ok"


def test_too_few_predictions_are_insufficient_not_an_alert(db: str) -> None:
    write(db, stream(20, NOW - timedelta(seconds=3590), seed=5, languages={"ja": 1.0}))
    result = report(db)
    assert result["alert"] is False and result["score"] is None
    assert {s["status"] for s in result["signals"].values()} == {"insufficient"}
    assert CODES  # the manifest's codes are the stream's
