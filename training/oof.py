"""Out-of-fold (cross-fitted) logits of a base model, and its refit on every training row.

Why: the fusion meta-model must learn how far to trust each base model from logits of rows
that model never trained on (docs/architecture.md §4). A held-out fusion slice gave it 25% of the rows
(~1,280) and took them from the base models too; cross-fitting gives it *every* non-test row
and leaves the base models all of them: each of K fold models is trained on the other folds
and scores its own fold, then one model is refit on all non-test rows and exported for serving.
The meta-model thus trains on logits of models slightly weaker than the served one (trained on
(K-1)/K of the rows), the usual stacking trade-off.

Every run inside (fold or refit) keeps a grouped validation slice for early stopping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from training.data import rebalance
from training.loop import FitResult
from training.split import grouped_stratified_split

log = logging.getLogger(__name__)

TrainOne = Callable[[np.ndarray, np.ndarray, str], tuple[object, FitResult]]
"""(fit rows, validation rows, tag) -> (trained model, its fit result)."""
Predict = Callable[[object, np.ndarray], np.ndarray]
"""(model, rows) -> logits [len(rows), labels]."""


@dataclass
class CrossFit:
    """Out-of-fold logits of ``rows`` (aligned), the refit model and what each run did."""

    rows: np.ndarray
    oof: np.ndarray
    model: object
    runs: dict[str, dict[str, object]] = field(default_factory=dict)


@dataclass(frozen=True)
class Inner:
    """What every run needs to carve its validation slice (and optionally rebalance)."""

    labels: list[int]
    keys: list[str]
    val_fraction: float
    seed: int
    rebalance: bool = False

    def split(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(fit rows, validation rows) out of ``rows``, grouped like the held-out split."""
        if self.val_fraction <= 0 or len(rows) < 20:
            return rows, rows[:0]
        keep, held = grouped_stratified_split(
            [self.labels[i] for i in rows], [self.keys[i] for i in rows], self.val_fraction, self.seed + 7
        )
        fit_rows = rows[keep]
        if self.rebalance:
            fit_rows = rebalance(fit_rows, self.labels, self.seed)
        return fit_rows, rows[held]


def cross_fit(
    rows: np.ndarray,
    folds: np.ndarray,
    n_folds: int,
    n_labels: int,
    inner: Inner,
    train_one: TrainOne,
    predict: Predict,
    name: str,
) -> CrossFit:
    """K fold models (out-of-fold logits of ``rows``) then one refit on all of ``rows``.

    ``folds`` is aligned with ``rows`` (fold number per row).
    """
    oof = np.zeros((len(rows), n_labels), dtype=np.float32)
    runs: dict[str, dict[str, object]] = {}
    for fold in range(n_folds):
        held = folds == fold
        if not held.any() or held.all():
            continue
        fit_rows, val_rows = inner.split(rows[~held])
        model, result = train_one(fit_rows, val_rows, f"fold{fold}")
        oof[held] = predict(model, rows[held])
        runs[f"fold{fold}"] = result.as_dict()
        del model
    fit_rows, val_rows = inner.split(rows)
    model, result = train_one(fit_rows, val_rows, "full")
    runs["full"] = result.as_dict()
    log.info("cross-fitted", extra={"model": name, "rows": len(rows), "folds": n_folds})
    return CrossFit(rows, oof, model, runs)
