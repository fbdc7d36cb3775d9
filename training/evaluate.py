"""`catalog evaluate`: weighted/macro F1 and accuracy per model, per modality and for the fusion.

Scores go through training.scoring (ONNX Runtime + shared.ml.preprocess + shared.ml.fusion), the
functions serving uses. On the training data the saved held-out split is evaluated; on any
other data every offer is.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shared.ml.fusion import FusionModel, class_prior
from shared.ml.model_repo import MANIFESTS_DIR, Manifest, read_manifest
from shared.ml.selective import SelectivePolicy
from shared.ml.text_preparation import TextPreparer, Untranslated, check_text_preparation
from training.calibration import calibrate_fusion
from training.data import Catalog, load_catalog
from training.hierarchy_report import catalog_taxonomy, hierarchy_metrics
from training.scoring import Scores, fuse, score
from training.selective_report import (
    COVERAGE_PNG,
    RELIABILITY_PNG,
    calibration_metrics,
    coverage_precision_png,
    held_out_policy,
    policy_on_rows,
    reliability_png,
)
from training.split import load_test_rows

__all__ = ["Report", "class_prior", "evaluate_data", "evaluate_rows"]


@dataclass
class Report:
    manifest: Manifest
    rows: np.ndarray
    probabilities: np.ndarray
    scores: Scores
    metrics: dict[str, Any] = field(default_factory=dict)
    per_class: dict[str, Any] = field(default_factory=dict)
    confusion_png: Path | None = None
    selective: SelectivePolicy | None = None

    def summary(self) -> dict[str, Any]:
        return {"evaluated_rows": len(self.rows), **self.metrics}


def _metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | int]:
    from sklearn.metrics import accuracy_score, f1_score

    if len(y_true) == 0:
        return {"n": 0}
    return {
        "n": len(y_true),
        "weighted_f1": round(float(f1_score(y_true, y_pred, average="weighted", zero_division=0)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro", zero_division=0)), 4),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
    }


def evaluate_rows(
    repository: Path,
    manifest: Manifest,
    catalog: Catalog,
    rows: np.ndarray,
    max_pixels: int,
    out_dir: Path | None = None,
    target_precision: float | None = None,
) -> Report:
    """Score ``rows`` of ``catalog`` through the repository; metrics when labels are known.

    ``target_precision`` (training, on its held-out rows): first fit the fusion paths'
    temperatures on these rows (training.calibration, into ``manifest.fusion.params``), then
    choose the auto-accept policy into ``report.selective``. Otherwise the manifest's recorded
    calibration and policy are measured on them.
    """
    scores = score(
        repository,
        manifest,
        [catalog.texts[i] for i in rows],
        [catalog.image_paths[i] for i in rows],
        max_pixels,
    )
    prior = class_prior(manifest)
    index = {code: i for i, code in enumerate(manifest.codes)}
    y = np.array([index.get(catalog.labels[i], -1) for i in rows]) if catalog.labels else None
    honest: np.ndarray | None = None
    if target_precision is not None and y is not None and len(y):
        fusion, honest = calibrate_fusion(repository, manifest, scores, prior, y, int(manifest.revision))
    else:
        fusion = FusionModel.load(repository, manifest)
    probabilities = fuse(fusion, scores, prior)
    report = Report(manifest, rows, probabilities, scores)
    if y is None:
        return report
    models: dict[str, Any] = {}
    for name, logits in scores.text_logits.items():
        models[name] = _metrics(y[scores.has_text], logits[scores.has_text].argmax(1))
    for name, logits in scores.image_logits.items():
        models[name] = _metrics(y[scores.has_image], logits[scores.has_image].argmax(1))
    modalities: dict[str, Any] = {}
    if manifest.text_models:
        text_probs = fuse(fusion, scores, prior, use_image=False)
        modalities["text"] = _metrics(y[scores.has_text], text_probs[scores.has_text].argmax(1))
    if manifest.image_models:
        image_probs = fuse(fusion, scores, prior, use_text=False)
        modalities["image"] = _metrics(y[scores.has_image], image_probs[scores.has_image].argmax(1))
    predicted = probabilities.argmax(1)
    report.metrics = {"models": models, "modalities": modalities, "fusion": _metrics(y, predicted)}
    report.per_class = _per_class(manifest, y, predicted)
    tree = catalog_taxonomy(catalog.data_dir, manifest.codes)
    if tree is not None and len(y):
        report.metrics["hierarchy"] = hierarchy_metrics(tree, manifest.codes, y, predicted)
    if not len(y):
        return report
    calibration = calibration_metrics(y, probabilities, fuse(fusion, scores, prior, calibrated=False), honest)
    report.metrics["calibration"] = calibration
    if target_precision is not None:
        report.selective = held_out_policy(manifest, y, probabilities, target_precision)
    policy = report.selective or manifest.selective
    if policy is not None:
        report.metrics["selective"] = policy_on_rows(policy, manifest, y, probabilities)
    if out_dir is not None:
        report.confusion_png = confusion_png(manifest, y, predicted, out_dir / "confusion.png")
        report_pngs(report, y, policy, out_dir / RELIABILITY_PNG, out_dir / COVERAGE_PNG)
    return report


def report_pngs(
    report: Report, y: np.ndarray, policy: SelectivePolicy | None, reliability_path: Path, coverage_path: Path
) -> list[Path]:
    """The reliability diagram and (with a policy) the coverage-precision curve."""
    written = [reliability_png(report.manifest, report.metrics["calibration"], reliability_path)]
    if policy is not None:
        written.append(
            coverage_precision_png(report.manifest, y, report.probabilities, policy, coverage_path)
        )
    return written


def _per_class(manifest: Manifest, y: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import classification_report

    labels = list(range(len(manifest.codes)))
    names = [str(code) for code in manifest.codes]
    return classification_report(  # type: ignore[no-any-return]
        y, predicted, labels=labels, target_names=names, output_dict=True, zero_division=0
    )


def confusion_png(manifest: Manifest, y: np.ndarray, predicted: np.ndarray, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    n = len(manifest.codes)
    matrix = confusion_matrix(y, predicted, labels=list(range(n))).astype(float)
    matrix /= np.maximum(matrix.sum(axis=1, keepdims=True), 1.0)
    fig, ax = plt.subplots(figsize=(10, 9))
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    ticks = [str(code) for code in manifest.codes]
    ax.set_xticks(range(n), ticks, rotation=90, fontsize=7)
    ax.set_yticks(range(n), ticks, fontsize=7)
    ax.set_xlabel("predicted prdtypecode")
    ax.set_ylabel("true prdtypecode")
    ax.set_title(f"Fusion confusion matrix (row-normalised), {manifest.version}")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def rebalance_effect(repository: Path, manifest: Manifest) -> dict[str, Any]:
    """Whether rebalancing helped: this revision vs the latest one trained on the same data and
    profile with the other setting (same fingerprint and seed, hence the same held-out split)."""
    enabled = bool(manifest.training.get("rebalance"))
    profile = manifest.training.get("profile", {}).get("name")
    fingerprint = manifest.training.get("data_fingerprint")
    other: Manifest | None = None
    for path in sorted(
        (repository / MANIFESTS_DIR).glob("*.json"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0
    ):
        candidate = Manifest.model_validate_json(path.read_text("utf-8"))
        t = candidate.training
        if (
            t.get("data_fingerprint") == fingerprint
            and t.get("profile", {}).get("name") == profile
            and bool(t.get("rebalance")) != enabled
        ):
            other = candidate
    if other is None:
        return {
            "enabled": enabled,
            "helped": None,
            "note": "no revision with the other setting on the same data",
        }
    mine = manifest.metrics.get("fusion", {}).get("weighted_f1")
    theirs = other.metrics.get("fusion", {}).get("weighted_f1")
    if mine is None or theirs is None:
        return {"enabled": enabled, "helped": None, "compared_with": other.version}
    with_rb, without_rb = (mine, theirs) if enabled else (theirs, mine)
    return {
        "enabled": enabled,
        "compared_with": other.version,
        "weighted_f1_with_rebalance": with_rb,
        "weighted_f1_without_rebalance": without_rb,
        "helped": with_rb > without_rb,
    }


def evaluate_data(
    data_dir: Path,
    repository: Path,
    json_out: Path,
    predictions_csv: Path | None = None,
    all_rows: bool = False,
    max_pixels: int = 40_000_000,
    text_preparer: TextPreparer | None = None,
) -> dict[str, Any]:
    """The full evaluation report (JSON), confusion PNG next to it, optional per-offer CSV.

    Texts go through ``text_preparer`` (the serving language step); it must be the step the
    model was trained with (TextPreparationMismatch otherwise), so evaluated = served.
    """
    manifest = read_manifest(repository)
    preparer = text_preparer or Untranslated()
    check_text_preparation(manifest, bool(preparer.describe().get("translated")))
    catalog = load_catalog(data_dir, int(manifest.training.get("profile", {}).get("max_chars", 5000)))
    if manifest.text_models:
        catalog.texts = preparer.prepare(catalog.texts).texts
    rows = (
        None
        if all_rows
        else load_test_rows(repository / str(manifest.training.get("split_file", "")), catalog)
    )
    subset = "held-out split" if rows is not None else "all offers"
    if rows is None:
        rows = np.arange(len(catalog), dtype=np.int64)
    report = evaluate_rows(repository, manifest, catalog, rows, max_pixels, None)
    body: dict[str, Any] = {
        "model_version": manifest.version,
        "data_dir": str(data_dir),
        "data_fingerprint": catalog.fingerprint,
        "evaluated": subset,
        "evaluated_rows": len(rows),
        "labels_known": catalog.labels is not None,
        **report.metrics,
        "rebalance": rebalance_effect(repository, manifest),
        "per_class": report.per_class,
    }
    if catalog.labels is not None and len(rows):
        index = {code: i for i, code in enumerate(manifest.codes)}
        y = np.array([index.get(catalog.labels[i], -1) for i in rows])
        png = confusion_png(
            manifest, y, report.probabilities.argmax(1), json_out.with_suffix(".confusion.png")
        )
        body["confusion_png"] = str(png)
        pngs = report_pngs(
            report,
            y,
            manifest.selective,
            json_out.with_suffix(".reliability.png"),
            json_out.with_suffix(".coverage_precision.png"),
        )
        body["report_pngs"] = [str(p) for p in pngs]
    if predictions_csv is not None:
        write_predictions(predictions_csv, manifest, catalog, report)
        body["predictions_csv"] = str(predictions_csv)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(body, indent=2), "utf-8")
    return body


def write_predictions(path: Path, manifest: Manifest, catalog: Catalog, report: Report) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    codes = manifest.codes
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "productid", "prdtypecode", "probability", "modalities"])
        for k, row in enumerate(report.rows):
            best = int(report.probabilities[k].argmax())
            used = "+".join(
                m
                for m, on in (("text", report.scores.has_text[k]), ("image", report.scores.has_image[k]))
                if on
            )
            writer.writerow(
                [
                    catalog.row_ids[row],
                    catalog.product_ids[row],
                    codes[best],
                    f"{report.probabilities[k, best]:.6f}",
                    used or "none",
                ]
            )
