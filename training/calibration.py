"""The calibration of each fusion path (a temperature, then top-label Platt scaling:
shared.ml.selective), fitted on the held-out rows the served models never saw.

Why held-out rather than out-of-fold: a path that serves one base model as it is (blend weight 0,
the usual text-only and photo-only paths) would be calibrated on the fold models' logits, which
are weaker and softer than the refit's; on the tiny profile that sharpened the served text path
and doubled its held-out ECE (0.11 -> 0.17). The held-out rows are scored by the very files
that are served. One scalar per path barely over-fits, and the report's headline ECE is
cross-fitted anyway: each fold's probabilities calibrated by what was fitted on the other
folds. A path with fewer than ``MIN_PATH_ROWS`` held-out rows gets the calibration fitted on
all fused rows; rows without any usable input (the class prior) are never rescaled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shared.ml.fusion import PATHS, FusionModel, path_for
from shared.ml.model_repo import Manifest
from shared.ml.selective import apply_calibration, fit_calibration
from training.scoring import Scores, fuse

MIN_PATH_ROWS = 30
CROSS_FIT_FOLDS = 5


def row_paths(has_text: np.ndarray, has_image: np.ndarray, available: list[str]) -> np.ndarray:
    """The fusion path that served each row ('' for the class prior)."""
    out = []
    for text, image in zip(has_text, has_image, strict=True):
        name = path_for(bool(text), bool(image)) if text or image else ""
        out.append(name if name in available else "")
    return np.asarray(out, dtype=object)


Calibration = tuple[float, float, float]
"""(temperature, slope, bias) of one path (shared.ml.selective.apply_calibration)."""


def fit_path_calibrations(probs: np.ndarray, y: np.ndarray, paths: np.ndarray) -> dict[str, Calibration]:
    """Calibration per path present in ``paths`` (pooled for paths with too few rows)."""
    fused = paths != ""
    pooled = fit_calibration(probs[fused], y[fused]) if fused.any() else (1.0, 1.0, 0.0)
    out = {}
    for name in PATHS:
        mask = paths == name
        if mask.any():
            out[name] = fit_calibration(probs[mask], y[mask]) if mask.sum() >= MIN_PATH_ROWS else pooled
    return out


def apply_path_calibrations(
    probs: np.ndarray, paths: np.ndarray, calibrations: dict[str, Calibration]
) -> np.ndarray:
    """What shared.ml.fusion serves: each row's path calibration on its uncalibrated probabilities."""
    out = probs.copy()
    for name, calibration in calibrations.items():
        mask = paths == name
        if mask.any():
            out[mask] = apply_calibration(probs[mask], *calibration)
    return out


def cross_fitted(probs: np.ndarray, y: np.ndarray, paths: np.ndarray, seed: int) -> np.ndarray:
    """Each fold calibrated by what was fitted on the other folds (an honest ECE)."""
    folds = max(2, min(CROSS_FIT_FOLDS, len(y)))
    assignment = np.random.default_rng(seed).permutation(len(y)) % folds
    out = probs.copy()
    for fold in range(folds):
        held, rest = assignment == fold, assignment != fold
        calibrations = fit_path_calibrations(probs[rest], y[rest], paths[rest])
        out[held] = apply_path_calibrations(probs[held], paths[held], calibrations)
    return out


def calibration_params(calibrations: dict[str, Calibration], paths: np.ndarray) -> dict[str, dict[str, Any]]:
    """``manifest.fusion.params["calibration"]``: read by shared.ml.fusion.FusionModel."""
    return {
        name: {
            "temperature": temperature,
            "top_label": {"slope": slope, "bias": bias},
            "fitted_on": "held-out rows"
            if int((paths == name).sum()) >= MIN_PATH_ROWS
            else "all held-out rows (too few of this path)",
            "rows": int((paths == name).sum()),
        }
        for name, (temperature, slope, bias) in calibrations.items()
    }


def calibrate_fusion(
    repository: Path, manifest: Manifest, scores: Scores, prior: np.ndarray, y: np.ndarray, seed: int
) -> tuple[FusionModel, np.ndarray]:
    """Fit the path calibrations on these (held-out) rows into ``manifest.fusion.params``;
    returns the calibrated fusion model and the cross-fitted probabilities (the honest ECE)."""
    if manifest.fusion is None:
        raise ValueError(f"Manifest {manifest.version} has no fusion model to calibrate.")
    manifest.fusion.params.pop("calibration", None)
    fusion = FusionModel.load(repository, manifest)
    uncalibrated = fuse(fusion, scores, prior, calibrated=False)
    paths = row_paths(scores.has_text, scores.has_image, fusion.available_paths)
    known = y >= 0
    calibrations = fit_path_calibrations(uncalibrated[known], y[known], paths[known])
    manifest.fusion.params["calibration"] = calibration_params(calibrations, paths[known])
    honest = uncalibrated.copy()
    honest[known] = cross_fitted(uncalibrated[known], y[known], paths[known], seed)
    return FusionModel.load(repository, manifest), honest
