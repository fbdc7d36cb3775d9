"""The pool-or-stack rule (training.fusion_pool): noise keeps the pool, a real gain keeps the stack."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from training.fusion_pool import prefer_pool, weighted_f1_of


def _probabilities(labels: np.ndarray, right: np.ndarray, n_labels: int) -> np.ndarray:
    """One-hot-ish probabilities: the true class where ``right``, the next class elsewhere."""
    predicted = np.where(right, labels, (labels + 1) % n_labels)
    out = np.full((len(labels), n_labels), 0.01)
    out[np.arange(len(labels)), predicted] = 1.0
    return out / out.sum(axis=1, keepdims=True)


def test_weighted_f1_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 500)
    predicted = np.where(rng.random(500) < 0.6, labels, rng.integers(0, 7, 500))
    predicted[predicted == 6] = 5  # a class never predicted: zero_division=0
    expected = f1_score(labels, predicted, average="weighted", zero_division=0)
    assert abs(weighted_f1_of(labels, predicted, 7) - expected) < 1e-12


def test_a_gain_within_noise_keeps_the_pool() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, 2000)
    pool_right = rng.random(2000) < 0.70
    stack_right = pool_right.copy()
    # The two disagree on 76 rows, the stack right on 40 of them: +4 of 2,000, well within noise.
    stack_right[rng.choice(np.flatnonzero(~pool_right), 40, replace=False)] = True
    stack_right[rng.choice(np.flatnonzero(pool_right), 36, replace=False)] = False
    stack, pool = _probabilities(labels, stack_right, 5), _probabilities(labels, pool_right, 5)
    rule = prefer_pool(labels, stack, pool, 0)
    assert rule["stack_minus_pool"] > 0
    assert rule["pool"] is True


def test_a_clear_gain_keeps_the_stack() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 5, 2000)
    pool_right = rng.random(2000) < 0.70
    stack_right = pool_right | (rng.random(2000) < 0.3)  # ~9 points better
    rule = prefer_pool(
        labels, _probabilities(labels, stack_right, 5), _probabilities(labels, pool_right, 5), 0
    )
    assert rule["stack_minus_pool"] > 3 * rule["standard_error"]
    assert rule["pool"] is False
