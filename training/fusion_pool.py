"""The pool a fusion path may serve instead of its LightGBM stack, and the rule that picks it.

A pool is ``softmax(sum_m w_m log softmax(logits_m))`` (shared.ml.fusion.pool_forward): a
weighted geometric mean of the models' probabilities, its weights a grid over the simplex chosen
by out-of-fold weighted F1. Why offer it beside LightGBM: the text views are a few calibrated
linear models of the same offer, and on real text the pool beat both the stack and TF-IDF +
LinearSVC where LightGBM over 2,500 rows of scores did not; on the full path LightGBM over five
models' logits (four text views and the image) overfitted (fusion 0.923 -> 0.916, ECE 0.027 ->
0.036 on the default run, docs/benchmarks/training.md), where a product of experts has one
weight per model to learn.

Why the one-standard-error rule (:func:`prefer_pool`): the two stacks' out-of-fold scores are
measured on the same rows, and a difference smaller than its own bootstrap standard error is
noise (seen: LightGBM chosen on Debian by 0.002 out of fold, 0.006 below the pool held out).
Between two candidates that noise cannot separate, the one with four weights to fit instead of
hundreds of trees is kept.
"""

from __future__ import annotations

import itertools

import numpy as np

from shared.ml.fusion import softmax

POOL_STEP = 0.1
BOOTSTRAP_SAMPLES = 200


def simplex(n: int, step: float) -> list[tuple[float, ...]]:
    """Every weight vector of ``n`` non-negative multiples of ``step`` that sum to 1."""
    units = round(1 / step)
    return [
        tuple(k * step for k in (*cut, units - sum(cut)))
        for cut in itertools.product(range(units + 1), repeat=n - 1)
        if sum(cut) <= units
    ]


def weighted_f1_of(labels: np.ndarray, predicted: np.ndarray, n_labels: int) -> float:
    """Weighted F1 of integer predictions (scikit-learn's ``average="weighted"``, zero_division=0),
    in numpy: the pool grid scores it a thousand times per path."""
    true = np.bincount(labels, minlength=n_labels).astype(np.float64)
    guessed = np.bincount(predicted, minlength=n_labels).astype(np.float64)
    hits = np.bincount(labels[predicted == labels], minlength=n_labels).astype(np.float64)
    denominator = true + guessed
    f1 = np.divide(2 * hits, denominator, out=np.zeros(n_labels), where=denominator > 0)
    return float((f1 * true).sum() / max(true.sum(), 1.0))


def choose_pool(logits: dict[str, np.ndarray], models: list[str], labels: np.ndarray) -> dict[str, object]:
    """The weights ``w`` (a grid over the simplex) of ``softmax(sum_m w_m log softmax(logits_m))``
    with the best out-of-fold weighted F1; ties go to the grid's first (the first model heaviest)."""
    logs = [np.log(softmax(np.asarray(logits[m], dtype=np.float64)) + 1e-12) for m in models]
    n_labels = logs[0].shape[1]
    best: tuple[float, tuple[float, ...]] | None = None
    for weights in sorted(simplex(len(models), POOL_STEP), key=lambda w: [-x for x in w]):
        pooled = sum(w * log for w, log in zip(weights, logs, strict=True) if w > 0)
        score = weighted_f1_of(labels, np.asarray(pooled).argmax(1), n_labels)
        if best is None or score > best[0] + 1e-9:
            best = (score, weights)
    assert best is not None
    return {
        "weights": {m: round(w, 3) for m, w in zip(models, best[1], strict=True)},
        "cv_weighted_f1": round(best[0], 4),
    }


def prefer_pool(
    labels: np.ndarray, stack: np.ndarray, pool: np.ndarray, seed: int
) -> dict[str, float | bool]:
    """Keep the pool unless the stack's out-of-fold weighted F1 beats it by more than one bootstrap
    standard error of their paired difference (rows resampled together, ``seed`` fixed)."""
    n_labels = stack.shape[1]
    stack_pred, pool_pred = stack.argmax(1), pool.argmax(1)
    rng = np.random.default_rng(seed)
    differences = np.empty(BOOTSTRAP_SAMPLES)
    for k in range(BOOTSTRAP_SAMPLES):
        rows = rng.integers(0, len(labels), len(labels))
        differences[k] = weighted_f1_of(labels[rows], stack_pred[rows], n_labels) - weighted_f1_of(
            labels[rows], pool_pred[rows], n_labels
        )
    gain = weighted_f1_of(labels, stack_pred, n_labels) - weighted_f1_of(labels, pool_pred, n_labels)
    standard_error = float(differences.std(ddof=1))
    return {
        "stack_minus_pool": round(gain, 4),
        "standard_error": round(standard_error, 4),
        "pool": bool(gain <= standard_error),
    }
