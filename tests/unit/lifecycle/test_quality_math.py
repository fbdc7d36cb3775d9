"""The quality numbers the gate and the dashboard rely on."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from shared.lifecycle.quality import bootstrap_f1, summary, weighted_f1, wilson


def test_weighted_f1_is_scikit_learns() -> None:
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 6, 300)
    y_pred = np.where(rng.random(300) < 0.7, y_true, rng.integers(0, 8, 300))
    assert weighted_f1(y_true, y_pred) == pytest.approx(f1_score(y_true, y_pred, average="weighted"))


def test_wilson_interval_and_seeded_bootstrap() -> None:
    low, high = wilson(8, 10)  # type: ignore[misc]
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)
    assert wilson(0, 0) is None
    truth, pred = [1, 2, 3, 1, 2, 3, 1, 1], [1, 2, 3, 1, 2, 1, 1, 2]
    assert bootstrap_f1(truth, pred) == bootstrap_f1(truth, pred)  # same data, same interval
    body = summary(truth, pred)
    assert body["n"] == 8 and body["correct"] == 6 and body["accuracy"] == 0.75
    assert body["weighted_f1_ci95"][0] <= body["weighted_f1"] <= body["weighted_f1_ci95"][1]
