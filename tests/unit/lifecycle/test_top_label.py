"""Top-label Platt scaling (shared.ml.selective): it mends what one temperature cannot (a model
under-confident in the middle and over-confident at the top), keeps the argmax, and an old
manifest without it serves as before."""

from __future__ import annotations

import numpy as np
import pytest

from shared.ml.selective import (
    apply_calibration,
    apply_top_label,
    expected_calibration_error,
    fit_calibration,
    fit_top_label,
)


def _miscalibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose true accuracy is sigmoid(0.6 logit(c) + 1.4) at stated confidence c: too low
    in the middle, too high near 1 (the pool's shape on the default run)."""
    rng = np.random.default_rng(seed)
    k = 5
    confidence = rng.uniform(0.3, 0.999, n)
    truth = 1 / (1 + np.exp(-(0.6 * np.log(confidence / (1 - confidence)) + 1.4)))
    top = rng.integers(0, k, n)
    probs = np.tile(((1 - confidence) / (k - 1))[:, None], (1, k))
    probs[np.arange(n), top] = confidence
    right = rng.random(n) < truth
    labels = np.where(right, top, (top + 1 + rng.integers(0, k - 1, n)) % k)
    return probs, labels


def _ece(probs: np.ndarray, labels: np.ndarray) -> float:
    return expected_calibration_error(probs.max(1), probs.argmax(1) == labels)


def test_the_fit_recovers_the_shape_and_mends_the_calibration_on_other_rows() -> None:
    train, train_labels = _miscalibrated(4000, 0)
    test, test_labels = _miscalibrated(4000, 1)
    slope, bias = fit_top_label(train, train_labels)
    assert abs(slope - 0.6) < 0.1 and abs(bias - 1.4) < 0.3
    before = _ece(test, test_labels)
    temperature_only = _ece(apply_calibration(test, fit_calibration(train, train_labels)[0]), test_labels)
    both = _ece(apply_calibration(test, *fit_calibration(train, train_labels)), test_labels)
    assert both < 0.03 < min(before, temperature_only)


def test_rows_still_sum_to_one_and_the_top_class_stays_on_top() -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.full(6, 0.3), 500)
    scaled = apply_top_label(probs, 0.2, -3.0)  # pushes every top probability down hard
    assert np.allclose(scaled.sum(1), 1.0)
    assert (scaled.argmax(1) == probs.argmax(1)).all()
    assert apply_top_label(probs, 1.0, 0.0) is probs


def test_rows_that_cannot_support_a_fit_get_the_identity() -> None:
    probs = np.array([[0.9, 0.1], [0.8, 0.2]])
    assert fit_top_label(probs, np.array([0, 0])) == (1.0, 0.0)  # all right: nothing to learn


def test_extreme_logits_do_not_overflow(recwarn: pytest.WarningsRecorder) -> None:
    """At 1,000 classes confidences near 1/1,000 met a large slope: exp() overflowed (warned)."""
    probs = np.full((2, 1000), 1e-6)
    probs[:, 0] = 1.0 - 999e-6
    probs[1] = 1.0 / 1000
    out = apply_top_label(probs, 200.0, -30.0)
    fit_top_label(probs, np.array([0, 1]))
    assert np.isfinite(out).all() and np.allclose(out.sum(axis=1), 1.0)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
