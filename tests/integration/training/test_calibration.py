"""Calibration and the auto-accept policy of a tiny trained revision (session fixture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shared.fusion import FusionModel, class_prior
from shared.model_repo import read_manifest
from training.data import load_catalog
from training.evaluate import evaluate_rows
from training.scoring import fuse, score
from training.selective_report import COVERAGE_PNG, RELIABILITY_PNG
from training.split import load_test_rows


def test_temperature_scaling_lowers_held_out_ece(tiny_model_repository: Path) -> None:
    manifest = read_manifest(tiny_model_repository)
    assert manifest.fusion is not None
    temperatures = {p: c["temperature"] for p, c in manifest.fusion.params["calibration"].items()}
    assert temperatures and all(t != 1.0 for t in temperatures.values())
    calibration = manifest.metrics["calibration"]
    assert calibration["bins"] == 15
    assert calibration["ece"] < calibration["ece_uncalibrated"]
    report_dir = tiny_model_repository / "training" / str(manifest.revision)
    for png in ("confusion.png", RELIABILITY_PNG, COVERAGE_PNG):
        assert (report_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_recorded_threshold_meets_the_target_on_held_out_rows(
    tiny_model_repository: Path, synthetic_catalog: Path
) -> None:
    """Re-score the held-out rows through the serving code and apply the manifest's policy."""
    manifest = read_manifest(tiny_model_repository)
    policy = manifest.selective
    assert policy is not None and policy.target_precision == 0.98
    catalog = load_catalog(synthetic_catalog, int(manifest.training["profile"]["max_chars"]))
    rows = load_test_rows(tiny_model_repository / manifest.training["split_file"], catalog)
    assert rows is not None and policy.held_out_rows == len(rows)
    scores = score(
        tiny_model_repository,
        manifest,
        [catalog.texts[i] for i in rows],
        [catalog.image_paths[i] for i in rows],
        40_000_000,
    )
    probs = fuse(FusionModel.load(tiny_model_repository, manifest), scores, class_prior(manifest))
    codes = np.asarray(manifest.codes)[probs.argmax(1)]
    truth = np.asarray([catalog.labels[i] for i in rows]) if catalog.labels else np.zeros(0)
    auto = np.array(
        [policy.decide(int(c), float(p)) == "auto" for c, p in zip(codes, probs.max(1), strict=True)]
    )
    assert round(float(auto.mean()), 4) == policy.coverage
    if auto.any():
        assert float((codes[auto] == truth[auto]).mean()) >= policy.target_precision
        lo, hi = policy.precision_ci95 or (1.0, 0.0)
        assert lo <= float(policy.precision or 0.0) <= hi
    measured = evaluate_rows(tiny_model_repository, manifest, catalog, rows, 40_000_000).metrics
    assert measured["selective"]["coverage"] == policy.coverage
