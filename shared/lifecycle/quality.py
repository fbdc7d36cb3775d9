"""Quality numbers with their uncertainty: weighted F1, accuracy, confidence intervals.

Numpy only (the API's slim image has no scikit-learn). Weighted F1 is scikit-learn's
``f1_score(average="weighted")`` (a test checks it); its interval is a seeded percentile
bootstrap, accuracy's is Wilson's score interval: both say how little a few hundred reviewed
listings prove.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

Z95 = 1.959963984540054


def weighted_f1(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    """F1 per true class, weighted by its support (classes only predicted weigh nothing)."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if len(t) == 0:
        return 0.0
    _, codes = np.unique(np.concatenate([t, p]), return_inverse=True)
    return _weighted_f1_codes(codes[: len(t)], codes[len(t) :], int(codes.max()) + 1)


def _weighted_f1_codes(t: np.ndarray, p: np.ndarray, k: int) -> float:
    """:func:`weighted_f1` of class indices in ``range(k)``: three counts per class, no loop
    over classes (the bootstrap calls it 200 times per version on every quality read)."""
    support = np.bincount(t, minlength=k).astype(float)
    predicted = np.bincount(p, minlength=k).astype(float)
    tp = np.bincount(t[t == p], minlength=k).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(k), where=both > 0)
    return float(np.sum(f1 * support) / len(t))


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion (None without observations)."""
    if n <= 0:
        return None
    phat = successes / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_f1(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    resamples: int = 200,
    seed: int = 0,
) -> tuple[float, float] | None:
    """95% percentile bootstrap interval of weighted F1 (seeded: the same data, the same answer).

    Resampling n items with replacement only changes how many items fall in each (true,
    predicted) cell, a multinomial draw over the cells: all resamples are drawn at once and
    scored as matrices, so the cost follows the distinct cells, not the labelled listings
    (5,000 labels cost seconds item by item: docs/benchmarks/queries.md)."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if len(t) < 2:
        return None
    rng = np.random.default_rng(seed)
    _, codes = np.unique(np.concatenate([t, p]), return_inverse=True)
    k = int(codes.max()) + 1
    cells, counts = np.unique(codes[: len(t)] * k + codes[len(t) :], return_counts=True)
    true_of, pred_of = cells // k, cells % k
    draws = rng.multinomial(len(t), counts / len(t), size=resamples).astype(float)  # resamples x cells
    onehot = np.eye(k)
    support, predicted = draws @ onehot[true_of], draws @ onehot[pred_of]
    tp = draws @ (onehot[true_of] * (true_of == pred_of)[:, None])
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(tp), where=both > 0)
    values = (f1 * support).sum(axis=1) / len(t)
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def summary(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, Any]:
    """n, correct, accuracy (+ Wilson 95%), weighted F1 (+ bootstrap 95%)."""
    n = len(y_true)
    correct = int(sum(1 for a, b in zip(y_true, y_pred, strict=True) if a == b))
    acc_ci, f1_ci = wilson(correct, n), bootstrap_f1(y_true, y_pred)
    return {
        "n": n,
        "correct": correct,
        "accuracy": round(correct / n, 4) if n else None,
        "accuracy_ci95": [round(x, 4) for x in acc_ci] if acc_ci else None,
        "weighted_f1": round(weighted_f1(y_true, y_pred), 4) if n else None,
        "weighted_f1_ci95": [round(x, 4) for x in f1_ci] if f1_ci else None,
    }
