"""shared.ml.selective: temperature scaling, ECE, the auto-accept thresholds (numbers by hand)."""

from __future__ import annotations

import numpy as np

from shared.ml.selective import (
    apply_temperature,
    choose_policy,
    expected_calibration_error,
    fit_temperature,
    threshold_at_precision,
)


def test_temperature_keeps_the_ranking_and_one_is_identity() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4]])
    assert apply_temperature(probs, 1.0) is probs
    softer = apply_temperature(probs, 2.0)
    assert np.allclose(softer.sum(1), 1.0)
    assert (softer.argmax(1) == probs.argmax(1)).all()
    assert (softer.max(1) < probs.max(1)).all()


def test_fitted_temperature_undoes_overconfidence() -> None:
    rng = np.random.default_rng(0)
    n, k = 4000, 5
    true_logits = rng.normal(size=(n, k)) * 1.5
    true_p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(k, p=p) for p in true_p])
    overconfident = apply_temperature(true_p, 1 / 3)  # logits tripled
    temperature = fit_temperature(overconfident, labels)
    assert 2.5 < temperature < 3.6
    before = expected_calibration_error(overconfident.max(1), overconfident.argmax(1) == labels)
    after_p = apply_temperature(overconfident, temperature)
    after = expected_calibration_error(after_p.max(1), after_p.argmax(1) == labels)
    assert after < before / 3


def test_ece_by_hand() -> None:
    # two bins used: 0.95 (2 rows, 1 right) and 0.55 (2 rows, 2 right)
    conf = np.array([0.95, 0.95, 0.55, 0.55])
    correct = np.array([True, False, True, True])
    assert np.isclose(expected_calibration_error(conf, correct), 0.5 * 0.45 + 0.5 * 0.45)


def test_threshold_is_the_lowest_reaching_the_target() -> None:
    conf = np.array([0.99, 0.97, 0.95, 0.9, 0.8, 0.7])
    correct = np.array([1, 1, 1, 1, 0, 1], dtype=bool)
    t = threshold_at_precision(conf, correct, 0.8)
    # top 6: 5/6 = 0.833 >= 0.8: everything is accepted
    assert (t.threshold, t.accepted, t.correct) == (0.7, 6, 5)
    t = threshold_at_precision(conf, correct, 0.9)
    assert (t.threshold, t.accepted) == (0.9, 4)
    assert threshold_at_precision(conf[4:5], correct[4:5], 0.9).threshold is None


def test_tied_confidences_are_accepted_together() -> None:
    conf = np.array([0.9, 0.9, 0.9])
    correct = np.array([True, True, False])
    assert threshold_at_precision(conf, correct, 0.9).threshold is None


def test_a_lucky_count_is_not_enough_the_confidences_must_expect_the_target_too() -> None:
    conf = np.full(10, 0.6)
    assert threshold_at_precision(conf, np.ones(10, bool), 0.9).threshold is None
    conf = np.array([0.99, 0.98, 0.97, 0.7, 0.7])
    t = threshold_at_precision(conf, np.ones(5, bool), 0.95)
    assert (t.threshold, t.accepted) == (0.97, 3)  # all right, but 0.7s expect 30% errors


def test_per_class_threshold_only_with_support_and_a_gain() -> None:
    rng = np.random.default_rng(1)
    # class 10: confident and always right (its own threshold can be low); class 20: right only
    # above 0.99
    conf_a, conf_b = rng.uniform(0.94, 1.0, 200), rng.uniform(0.3, 1.0, 200)
    codes = np.array([10] * 200 + [20] * 200)
    conf = np.concatenate([conf_a, conf_b])
    correct = np.concatenate([np.ones(200, bool), conf_b > 0.99])
    policy = choose_policy(codes, conf, correct, 0.95)
    assert policy.threshold is not None and policy.per_class.get("10", 1.0) < policy.threshold
    assert "20" not in policy.per_class
    assert policy.precision is not None and policy.precision >= 0.95
    assert policy.coverage > (policy.global_only["coverage"] or 0.0)
    lo, hi = policy.precision_ci95 or (0.0, 0.0)
    assert lo <= policy.precision <= hi
    assert policy.decide(10, float(policy.per_class["10"])) == "auto"
    assert policy.decide(20, float(policy.per_class["10"])) == "review"
    # a class under the support floor keeps the global threshold
    few = choose_policy(codes[190:230], conf[190:230], correct[190:230], 0.95)
    assert few.per_class == {}
