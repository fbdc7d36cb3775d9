"""The training report's calibration and selective-classification section (shared.ml.selective).

On the held-out rows: expected calibration error of the served fusion before and after its
temperature, a reliability diagram, the auto-accept policy at the target precision (recorded in
the manifest), and the coverage-precision curve, both PNGs beside the confusion matrix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shared.lifecycle.quality import wilson
from shared.ml.model_repo import Manifest
from shared.ml.selective import (
    ECE_BINS,
    SelectivePolicy,
    choose_policy,
    coverage_precision_curve,
    expected_calibration_error,
    reliability,
)

RELIABILITY_PNG = "reliability.png"
COVERAGE_PNG = "coverage_precision.png"


def calibration_metrics(
    y: np.ndarray, served: np.ndarray, uncalibrated: np.ndarray, cross_fitted: np.ndarray | None = None
) -> dict[str, Any]:
    """ECE (15 bins) of the served probabilities, of the same before temperature scaling and,
    when the temperatures were fitted on these very rows, cross-fitted (the honest figure)."""

    def ece(probs: np.ndarray) -> float:
        return round(expected_calibration_error(probs.max(1), probs.argmax(1) == y), 4)

    shown = served if cross_fitted is None else cross_fitted
    out: dict[str, Any] = {"bins": ECE_BINS, "ece": ece(served), "ece_uncalibrated": ece(uncalibrated)}
    if cross_fitted is not None:
        out["ece_cross_fitted"] = ece(cross_fitted)
    out["reliability"] = [
        {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
        for row in reliability(shown.max(1), shown.argmax(1) == y)
    ]
    return out


def policy_on_rows(
    policy: SelectivePolicy, manifest: Manifest, y: np.ndarray, probabilities: np.ndarray
) -> dict[str, Any]:
    """What a recorded policy does on these rows: coverage, precision and its Wilson interval."""
    codes = np.asarray(manifest.codes)[probabilities.argmax(1)]
    auto = np.array(
        [policy.decide(int(c), float(p)) == "auto" for c, p in zip(codes, probabilities.max(1), strict=True)],
        dtype=bool,
    )
    correct = probabilities.argmax(1) == y
    n_ok, n_auto = int(correct[auto].sum()), int(auto.sum())
    interval = wilson(n_ok, n_auto)
    return {
        "target_precision": policy.target_precision,
        "rows": len(y),
        "coverage": round(float(auto.mean()) if len(y) else 0.0, 4),
        "precision": round(n_ok / n_auto, 4) if n_auto else None,
        "precision_ci95": [round(interval[0], 4), round(interval[1], 4)] if interval else None,
    }


def held_out_policy(
    manifest: Manifest, y: np.ndarray, probabilities: np.ndarray, target: float
) -> SelectivePolicy:
    """The revision's auto-accept policy, chosen on its held-out rows."""
    codes = np.asarray(manifest.codes)[probabilities.argmax(1)]
    return choose_policy(codes, probabilities.max(1), probabilities.argmax(1) == y, target)


def _figure(path: Path, draw: Any) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5.5))
    draw(ax)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def reliability_png(manifest: Manifest, calibration: dict[str, Any], path: Path) -> Path:
    """Accuracy against mean confidence per bin (the diagonal is perfect calibration)."""

    def draw(ax: Any) -> None:
        rows = calibration["reliability"]
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
        ax.bar(
            [r["low"] for r in rows],
            [r["accuracy"] for r in rows],
            width=[r["high"] - r["low"] for r in rows],
            align="edge",
            alpha=0.6,
            edgecolor="black",
            label="accuracy",
        )
        ax.plot(
            [r["confidence"] for r in rows],
            [r["accuracy"] for r in rows],
            "o",
            color="C3",
            label="mean confidence",
        )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("top-1 confidence")
        ax.set_ylabel("accuracy")
        honest = calibration.get("ece_cross_fitted")
        shown = f"cross-fitted ECE {honest:.3f}" if honest is not None else f"ECE {calibration['ece']:.3f}"
        ax.set_title(
            f"Reliability, {manifest.version}: {shown} "
            f"(before temperature {calibration['ece_uncalibrated']:.3f})",
            fontsize=9,
        )
        ax.legend(loc="upper left", fontsize=8)

    return _figure(path, draw)


def coverage_precision_png(
    manifest: Manifest, y: np.ndarray, probabilities: np.ndarray, policy: SelectivePolicy, path: Path
) -> Path:
    """Precision of auto-accepting the most confident share of offers, for every share: counted,
    and expected from the calibrated confidences (the policy needs both to reach the target)."""
    confidence = probabilities.max(1)
    coverage, precision = coverage_precision_curve(confidence, probabilities.argmax(1) == y)
    expected = np.cumsum(np.sort(confidence)[::-1]) / np.arange(1, len(confidence) + 1)

    def draw(ax: Any) -> None:
        ax.plot(coverage, precision, color="C0", label="precision counted (global threshold)")
        ax.plot(coverage, expected, color="C1", linestyle=":", label="expected: mean calibrated confidence")
        ax.axhline(policy.target_precision, color="C3", linestyle="--", linewidth=1, label="target precision")
        if policy.precision is not None:
            ax.plot([policy.coverage], [policy.precision], "o", color="C2", label="recorded policy")
        ax.set_xlim(0, 1)
        ax.set_ylim(max(0.0, float(precision.min()) - 0.02) if len(precision) else 0, 1.005)
        ax.set_xlabel("coverage (share auto-accepted)")
        ax.set_ylabel("precision of auto-accepted")
        ax.set_title(
            f"Coverage at {policy.target_precision:.2f} precision, {manifest.version}: {policy.coverage:.1%}",
            fontsize=9,
        )
        ax.legend(loc="lower left", fontsize=8)

    return _figure(path, draw)
