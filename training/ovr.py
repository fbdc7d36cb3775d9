"""liblinear's one-vs-rest squared-hinge fit (LinearSVC's) split by class over processes.

Why: LinearSVC solves one binary problem per class, one after the other, in a single-threaded
liblinear call; at 1,000 classes that made each subword model the costliest stage of a
1,000-leaf training run (docs/benchmarks/taxonomy.md). The binary problems are independent,
so they are split by class over worker processes, each solving the binary LinearSVC of the
same C and seed. Processes rather than threads: liblinear's random generator is global, so
threads would make the solution depend on their interleaving. The solutions equal the one-call
fit's to the solver's tolerance, not bit for bit (the shuffling order differs), which is why
few classes keep the one call (training.subword_model.fit_exact).

Imports numpy, scipy and scikit-learn only: the spawned workers start in about a second.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import scipy.sparse as sp


def _fit_classes(
    x: sp.csr_matrix, y: np.ndarray, classes: np.ndarray, c: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each class against the rest: LinearSVC's binary problem, as its one-vs-rest would pose it."""
    from sklearn.svm import LinearSVC

    coef = np.zeros((len(classes), x.shape[1]))
    intercept = np.zeros(len(classes))
    for k, label in enumerate(classes):
        svm = LinearSVC(C=c, random_state=0, max_iter=5000).fit(x, (y == label).astype(np.int64))
        coef[k], intercept[k] = svm.coef_[0], svm.intercept_[0]
    return coef, intercept


def one_vs_rest(
    x: sp.csr_matrix, y: np.ndarray, c: float, processes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(classes, coef [classes x features], intercept)`` of the one-vs-rest LinearSVC(C=c)
    over ``processes`` spawned workers (classes dealt round-robin: similar loads). Needs at
    least 3 classes (with 2, LinearSVC fits a single decision function)."""
    classes = np.unique(y)
    if len(classes) < 3:
        raise ValueError("one_vs_rest needs at least 3 classes")
    processes = max(1, min(processes, len(classes)))
    shares = [classes[k::processes] for k in range(processes)]
    context = multiprocessing.get_context("spawn")  # the caller's threads (torch) stay out of it
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        parts = list(pool.map(_fit_classes, [x] * processes, [y] * processes, shares, [c] * processes))
    coef = np.zeros((len(classes), x.shape[1]))
    intercept = np.zeros(len(classes))
    for k, (share_coef, share_intercept) in enumerate(parts):
        coef[k::processes], intercept[k::processes] = share_coef, share_intercept
    return classes, coef, intercept
