"""Calibrated confidence and selective classification (which offers a person needs to see).

- **Temperature scaling** of the served fusion probabilities: ``softmax(log(p) / T)`` with one
  ``T`` per fusion path, fitted on held-out rows by minimum negative log-likelihood
  (training.calibration says why not out-of-fold), applied by shared.ml.fusion.FusionModel: the one
  place both serving backends (and `catalog evaluate`) get their probabilities from. One scalar
  keeps the ranking of classes (the argmax never changes) and barely over-fits.
- **Top-label Platt scaling** after the temperature: the top class's probability ``c`` becomes
  ``sigmoid(a * logit(c) + b)`` and the others share the rest in their proportions. Why: a
  pool of models (shared.ml.fusion's geometric mean) is under-confident in the middle and
  over-confident at the top at the same time, which no single temperature mends (default run:
  ECE 0.042 with the temperature, 0.016 with both, cross-fitted). Two numbers per path; the
  argmax is kept (the top class never falls below the second).
- **Expected calibration error** (15 equal-width bins of top-1 confidence): the mean gap between
  confidence and accuracy, weighted by each bin's share of rows.
- **The auto-accept policy** (``SelectivePolicy``, in each revision's manifest): the lowest
  confidence threshold whose accepted held-out rows reach the target precision
  (``CATALOG_AUTO_ACCEPT_PRECISION``), counted and as expected from their calibrated
  confidences, the coverage it gives and Wilson's interval on its precision; per predicted
  class where a class has ``MIN_CLASS_SUPPORT`` held-out predictions and its own threshold
  raises coverage while the combined rule still meets the target.

Numpy only: the fusion worker and the API stay light.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from shared.lifecycle.quality import wilson

Decision = Literal["auto", "review"]
ECE_BINS = 15
MIN_CLASS_SUPPORT = 30
MIN_TOP_LABEL_ROWS = 200
"""Fewer rows than this fit the temperature only: two more numbers on the tiny profile's 50
held-out rows made fresh offers' ECE worse (tests/integration/training/test_calibration.py)."""
_EPS = 1e-12


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(p) / T)`` row-wise; T = 1 returns ``probs`` unchanged."""
    if temperature == 1.0:
        return probs
    logits = np.log(np.clip(probs, _EPS, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def _logit(confidence: np.ndarray) -> np.ndarray:
    clipped = np.clip(confidence, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(clipped / (1 - clipped)))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) without overflow (exp of a large -z warned at 1,000 classes)."""
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


def apply_top_label(probs: np.ndarray, slope: float, bias: float) -> np.ndarray:
    """The top class's probability recalibrated to ``sigmoid(slope * logit(c) + bias)``, the
    other classes rescaled to share the rest; the top class stays the argmax."""
    if slope == 1.0 and bias == 0.0:
        return probs
    rows = np.arange(len(probs))
    top = probs.argmax(axis=1)
    confidence = probs[rows, top]
    target = _sigmoid(slope * _logit(confidence) + bias)
    second = np.partition(probs, -2, axis=1)[:, -2] if probs.shape[1] > 1 else np.zeros(len(probs))
    rest = np.clip(1.0 - confidence, _EPS, None)
    # never below the level at which the second class would overtake the top one
    target = np.maximum(target, second / np.clip(rest + second, _EPS, None) + 1e-9)
    out = probs * ((1.0 - target) / rest)[:, None]
    out[rows, top] = target
    return np.asarray(out)


def fit_top_label(probs: np.ndarray, labels: np.ndarray, ridge: float = 1e-3) -> tuple[float, float]:
    """(slope, bias) of the logistic regression of "top class right" on ``logit(confidence)``
    (Newton's method, a little ridge); (1, 0) when the rows cannot support a fit."""
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    if len(labels) < 2 or correct.min() == correct.max():
        return 1.0, 0.0
    x = np.stack([_logit(probs.max(axis=1)), np.ones(len(labels))], axis=1)
    w = np.array([1.0, 0.0])
    for _ in range(50):
        q = _sigmoid(x @ w)
        gradient = x.T @ (q - correct) / len(labels) + ridge * w
        hessian = (x * (q * (1 - q))[:, None]).T @ x / len(labels) + ridge * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return round(float(w[0]), 4), round(float(w[1]), 4)


def apply_calibration(
    probs: np.ndarray, temperature: float, slope: float = 1.0, bias: float = 0.0
) -> np.ndarray:
    """What a fusion path serves: its temperature, then its top-label Platt scaling."""
    return apply_top_label(apply_temperature(probs, temperature), slope, bias)


def fit_calibration(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """(temperature, slope, bias): the temperature of least NLL, then the top-label fit on the
    temperature-scaled rows (from ``MIN_TOP_LABEL_ROWS`` rows)."""
    temperature = fit_temperature(probs, labels)
    if len(labels) < MIN_TOP_LABEL_ROWS:
        return temperature, 1.0, 0.0
    slope, bias = fit_top_label(apply_temperature(probs, temperature), labels)
    return temperature, slope, bias


def _nll(probs: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    scaled = apply_temperature(probs, temperature)
    return float(-np.mean(np.log(np.clip(scaled[np.arange(len(labels)), labels], _EPS, None))))


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature (0.05..20) of least negative log-likelihood on ``probs``: a log grid,
    then a golden-section search around its best point (the NLL is unimodal in log T)."""
    if len(labels) == 0:
        return 1.0
    grid = np.linspace(np.log(0.05), np.log(20.0), 61)
    losses = [_nll(probs, labels, float(np.exp(g))) for g in grid]
    best = int(np.argmin(losses))
    lo, hi = grid[max(0, best - 1)], grid[min(len(grid) - 1, best + 1)]
    ratio = (np.sqrt(5.0) - 1) / 2
    for _ in range(30):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if _nll(probs, labels, float(np.exp(a))) < _nll(probs, labels, float(np.exp(b))):
            hi = b
        else:
            lo = a
    return round(float(np.exp((lo + hi) / 2)), 4)


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Per non-empty bin of top-1 confidence: its range, row count, mean confidence, accuracy."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        if mask.any():
            out.append(
                {
                    "low": float(edges[b]),
                    "high": float(edges[b + 1]),
                    "n": int(mask.sum()),
                    "confidence": float(confidence[mask].mean()),
                    "accuracy": float(correct[mask].mean()),
                }
            )
    return out


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: sum over bins of (rows in bin / rows) x |accuracy - mean confidence|."""
    n = len(confidence)
    if n == 0:
        return 0.0
    return float(
        sum(b["n"] / n * abs(b["accuracy"] - b["confidence"]) for b in reliability(confidence, correct, bins))
    )


class Threshold(BaseModel):
    """One auto-accept threshold and what it gave on the held-out rows."""

    threshold: float | None = Field(
        ..., description="Auto-accept at confidence >= this; None: no threshold reaches the target."
    )
    accepted: int = Field(..., description="Held-out rows at or above the threshold.")
    correct: int = Field(..., description="Of those, correctly classified.")
    support: int = Field(..., description="Held-out rows considered (all, or those predicted as the class).")

    @property
    def coverage(self) -> float:
        return self.accepted / self.support if self.support else 0.0

    @property
    def precision(self) -> float | None:
        return self.correct / self.accepted if self.accepted else None


class SelectivePolicy(BaseModel):
    """Which predictions of a revision are accepted without a person (docs/architecture.md §10)."""

    target_precision: float = Field(..., description="Precision the auto-accepted predictions must reach.")
    threshold: float | None = Field(..., description="Global confidence threshold (None: review everything).")
    per_class: dict[str, float] = Field(
        default_factory=dict,
        description="prdtypecode -> its own threshold, where it raised coverage on enough rows.",
    )
    held_out_rows: int = Field(..., description="Held-out rows the policy was chosen on.")
    coverage: float = Field(..., description="Share of held-out rows auto-accepted by the whole policy.")
    precision: float | None = Field(..., description="Precision of those rows (None: none accepted).")
    precision_ci95: tuple[float, float] | None = Field(
        None, description="Wilson 95% interval of that precision."
    )
    global_only: dict[str, float | None] = Field(
        default_factory=dict, description="Coverage and precision of the global threshold alone."
    )

    def decide(self, prdtypecode: int, confidence: float) -> Decision:
        """``auto`` when the confidence reaches the class's threshold (else the global one)."""
        cut = self.per_class.get(str(prdtypecode), self.threshold)
        return "auto" if cut is not None and confidence >= cut else "review"


def threshold_at_precision(confidence: np.ndarray, correct: np.ndarray, target: float) -> Threshold:
    """The lowest threshold whose accepted rows (confidence >= it) reach ``target`` precision
    both as counted and as their calibrated confidences expect (their mean): the largest
    coverage at that precision. Ties in confidence are accepted or refused together.

    Why both: the count alone, on a few hundred rows, picks the luckiest cut (tiny profile: 12
    of 12 right on the held-out rows at 0.835, 0.92 precision on 600 fresh offers); the mean
    calibrated confidence is the same estimate without that selection noise.
    """
    n = len(confidence)
    if n == 0:
        return Threshold(threshold=None, accepted=0, correct=0, support=0)
    order = np.argsort(-confidence, kind="stable")
    conf, hits = confidence[order], correct[order].astype(np.int64)
    cum, expected = np.cumsum(hits), np.cumsum(conf)
    # a cut after position i is valid only where the next confidence is strictly lower
    last_of_tie = np.append(conf[1:] < conf[:-1], True)
    accepted = np.arange(1, n + 1)
    reach = target * accepted - 1e-9
    ok = last_of_tie & (cum >= reach) & (expected >= reach)
    if not ok.any():
        return Threshold(threshold=None, accepted=0, correct=0, support=n)
    i = int(np.flatnonzero(ok)[-1])
    return Threshold(threshold=float(conf[i]), accepted=i + 1, correct=int(cum[i]), support=n)


def _accepts(policy: SelectivePolicy, codes: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    return np.array(
        [policy.decide(int(c), float(p)) == "auto" for c, p in zip(codes, confidence, strict=True)],
        dtype=bool,
    )


def choose_policy(
    predicted_codes: np.ndarray, confidence: np.ndarray, correct: np.ndarray, target: float
) -> SelectivePolicy:
    """The revision's policy from its held-out predictions (codes, top-1 confidence, right or not)."""
    glob = threshold_at_precision(confidence, correct, target)
    policy = SelectivePolicy(
        target_precision=target,
        threshold=glob.threshold,
        held_out_rows=len(confidence),
        coverage=0.0,
        precision=None,
        global_only={"coverage": round(glob.coverage, 4), "precision": glob.precision},
    )
    base_cover = _accepts(policy, predicted_codes, confidence).mean() if len(confidence) else 0.0
    per_class: dict[str, float] = {}
    for code in np.unique(predicted_codes):
        mask = predicted_codes == code
        if mask.sum() < MIN_CLASS_SUPPORT:
            continue
        own = threshold_at_precision(confidence[mask], correct[mask], target)
        if own.threshold is not None and (glob.threshold is None or own.threshold < glob.threshold):
            per_class[str(int(code))] = own.threshold
    if per_class:
        trial = policy.model_copy(update={"per_class": per_class})
        accepted = _accepts(trial, predicted_codes, confidence)
        if accepted.mean() > base_cover and correct[accepted].mean() >= target:
            policy = trial
    accepted = _accepts(policy, predicted_codes, confidence)
    n_acc, n_ok = int(accepted.sum()), int(correct[accepted].sum())
    policy.coverage = round(float(accepted.mean()) if len(accepted) else 0.0, 4)
    policy.precision = round(n_ok / n_acc, 4) if n_acc else None
    interval = wilson(n_ok, n_acc)
    policy.precision_ci95 = (round(interval[0], 4), round(interval[1], 4)) if interval else None
    return policy


def coverage_precision_curve(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coverage, precision) of accepting the top-n rows by confidence, for every n."""
    order = np.argsort(-confidence, kind="stable")
    cum = np.cumsum(correct[order].astype(np.float64))
    accepted = np.arange(1, len(order) + 1)
    return accepted / max(1, len(order)), cum / accepted
