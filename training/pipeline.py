"""`catalog train`: split -> language step -> cross-fitted base models -> ONNX -> fusion on
out-of-fold logits -> evaluation (with a TF-IDF + SVM baseline) -> manifest.

Every run publishes a new revision (shared.ml.model_repo): a candidate that goes live through
``catalog promote`` (the first one excepted); earlier revisions stay. Checkpoints live in a work
dir keyed by data fingerprint, profile, bases and text preparation, so an interrupted run
resumes. The split is checked before anything is trained (training.split).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from shared.categories import label_of
from shared.lifecycle.drift import training_reference
from shared.ml.model_repo import LabelSpec, Manifest, next_revision, publish_manifest
from shared.ml.text_preparation import KEY as TEXT_PREPARATION
from shared.ml.text_preparation import TextPreparer, Untranslated
from shared.taxonomy.diff import training_taxonomy
from training.base_models import BaseRun, Trained, train_image_models, train_text_models
from training.baseline import tfidf_svm_baseline
from training.data import Catalog, load_catalog
from training.device import resolve_device
from training.evaluate import evaluate_rows
from training.fusion_train import train_fusion
from training.oof import Inner
from training.profiles import Profile, sized_for_labels
from training.split import group_keys, make_split

log = logging.getLogger(__name__)


@dataclass
class TrainRequest:
    data_dir: Path
    out: Path
    text_bases: list[str]
    image_bases: list[str]
    profile: Profile
    work_dir: Path | None = None
    instance_kind: str = "KIND_GPU"
    max_pixels: int = 40_000_000
    text_preparer: TextPreparer = field(default_factory=Untranslated)
    """The serving language step (shared.ml.text_preparation); the CLI injects services.language's."""
    device: str = "auto"
    """auto, cpu or cuda (training.device); not part of the work dir key: a run resumes anywhere."""
    # False: return the evaluated manifest unpublished; the caller publishes it (or promotes it).
    publish: bool = True
    auto_accept_precision: float = 0.98
    """Target precision of auto-accepted predictions (CATALOG_AUTO_ACCEPT_PRECISION): the
    revision's thresholds (manifest ``selective``) are chosen on the held-out rows to reach it."""
    # Called with each stage's name as it starts (text, image, fusion, evaluate): progress reports.
    on_stage: Callable[[str], None] | None = None
    taxonomy: Path | None = None
    """The taxonomy file it trains on (names the classes, recorded as ``taxonomy_version``);
    default: taxonomy.json/.csv beside the data, else the reference tree (shared.taxonomy)."""


def work_dir_for(request: TrainRequest, catalog: Catalog) -> Path:
    if request.work_dir is not None:
        return request.work_dir
    key = [request.text_bases, request.image_bases, request.text_preparer.describe()]
    bases = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    return (
        request.out
        / ".work"
        / f"{catalog.fingerprint}-{request.profile.name}-{request.profile.key()}-{bases}"
    )


def _oof_logits(trained: Trained, rows: np.ndarray, n_labels: int) -> dict[str, np.ndarray]:
    """Out-of-fold logits of every model aligned with ``rows`` (zeros where a model has none)."""
    position = {int(r): k for k, r in enumerate(rows)}
    out: dict[str, np.ndarray] = {}
    for name, fitted in trained.oof.items():
        logits = np.zeros((len(rows), n_labels), dtype=np.float32)
        logits[[position[int(r)] for r in fitted.rows]] = fitted.oof
        out[name] = logits
    return out


def train(request: TrainRequest) -> Manifest:
    """Train, export, fuse, evaluate and publish one new revision of ``request.out``."""
    started = time.monotonic()
    torch.manual_seed(request.profile.seed)
    profile = request.profile
    device = resolve_device(request.device)
    if not request.text_bases and not request.image_bases:
        raise ValueError("Nothing to train: give at least one text or image base.")
    catalog = load_catalog(request.data_dir, profile.max_chars, require_labels=True)
    codes = catalog.codes()
    profile = sized_for_labels(profile, len(codes))  # hash tables that fit at many classes
    index = {code: i for i, code in enumerate(codes)}
    y = np.array([index[c] for c in catalog.labels or []], dtype=np.int64)
    # Photo-only training groups duplicates by photo; otherwise identical texts go together.
    group_by: Literal["text", "photo"] = "text" if request.text_bases else "photo"
    split = make_split(catalog, profile.seed, profile.test_fraction, profile.oof_folds, group_by)
    timings: dict[str, float] = {}
    mark = time.monotonic()
    prepared = request.text_preparer.prepare(catalog.texts) if request.text_bases else None
    if prepared is not None:
        catalog.texts = prepared.texts
    timings["language_s"] = round(time.monotonic() - mark, 1)
    work = work_dir_for(request, catalog)
    work.mkdir(parents=True, exist_ok=True)
    split.save(work / "split.json", catalog)
    request.out.mkdir(parents=True, exist_ok=True)
    revision = next_revision(request.out)
    inner = Inner(
        list(y), group_keys(catalog, group_by), profile.val_fraction, profile.seed, profile.rebalance
    )
    run = BaseRun(
        request.out,
        work,
        revision,
        profile,
        y,
        len(codes),
        split.train,
        split.folds,
        inner,
        request.instance_kind,
        device,
    )
    trained = Trained()
    stage = request.on_stage or (lambda _name: None)
    mark = time.monotonic()
    stage("text")
    train_text_models(run, request.text_bases, catalog.texts, trained)
    timings["text_s"] = round(time.monotonic() - mark, 1)
    mark = time.monotonic()
    stage("image")
    train_image_models(run, request.image_bases, catalog.image_paths, request.max_pixels, trained)
    timings["image_s"] = round(time.monotonic() - mark, 1)

    counts = np.bincount(y[split.train], minlength=len(codes))
    # describe() last: its "translated" (the rule, a bool) wins over the stats' count of that name.
    text_preparation = {**(prepared.stats if prepared else {}), **request.text_preparer.describe()}
    training_info: dict[str, object] = {
        "profile": profile.as_dict(),
        "device": str(device),
        "data_dir": str(request.data_dir),
        "data_fingerprint": catalog.fingerprint,
        "data_stats": catalog.stats,
        "split": {"train": len(split.train), "test": len(split.test), "folds": profile.oof_folds},
        "split_group_by": group_by,
        "split_file": f"training/{revision}/split.json",
        "rebalance": profile.rebalance,
        "class_counts": {str(code): int(n) for code, n in zip(codes, counts, strict=True)},
        "onnx_max_abs_diff": trained.onnx_gap,
        "base_model_runs": trained.runs,
        TEXT_PREPARATION: text_preparation,
    }
    taxonomy_version, names = training_taxonomy(list(codes), request.data_dir, request.taxonomy)
    manifest = Manifest(
        version=f"r{revision}-{datetime.now(UTC):%Y%m%dT%H%M%S}",
        revision=revision,
        created_at=datetime.now(UTC),
        labels=[LabelSpec(prdtypecode=code, name=names.get(code) or label_of(code)) for code in codes],
        taxonomy_version=taxonomy_version,
        text_models=trained.text_specs,
        image_models=trained.image_specs,
        training=training_info,
    )
    mark = time.monotonic()
    stage("fusion")
    rows = split.train
    has_text = np.zeros(len(rows), dtype=bool)
    has_image = np.zeros(len(rows), dtype=bool)
    position = {int(r): k for k, r in enumerate(rows)}
    for fitted, kind in [(trained.oof[s.name], "text") for s in trained.text_specs] + [
        (trained.oof[s.name], "image") for s in trained.image_specs
    ]:
        (has_text if kind == "text" else has_image)[[position[int(r)] for r in fitted.rows]] = True
    directory = f"fusion/{revision}"
    manifest.fusion = train_fusion(
        _oof_logits(trained, rows, len(codes)),
        has_text,
        has_image,
        y[rows],
        [s.name for s in trained.text_specs],
        [s.name for s in trained.image_specs],
        len(codes),
        profile,
        request.out / directory,
        directory,
    )
    timings["fusion_s"] = round(time.monotonic() - mark, 1)
    split_dir = request.out / "training" / str(revision)
    split_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(work / "split.json", split_dir / "split.json")
    mark = time.monotonic()
    stage("evaluate")
    report = evaluate_rows(
        request.out,
        manifest,
        catalog,
        split.test,
        request.max_pixels,
        split_dir,
        target_precision=request.auto_accept_precision,
    )
    timings["evaluate_s"] = round(time.monotonic() - mark, 1)
    if request.text_bases:
        mark = time.monotonic()
        baseline = tfidf_svm_baseline(catalog.texts, y, split.train, split.test)
        report.metrics["baseline_tfidf_svm"] = baseline
        timings["baseline_s"] = round(time.monotonic() - mark, 1)
    timings["total_s"] = round(time.monotonic() - started, 1)
    manifest.training["timings"] = timings
    manifest.metrics = report.summary()
    manifest.selective = report.selective
    manifest.reference = training_reference(
        {str(code): int(n) for code, n in zip(codes, counts, strict=True)},
        report.probabilities.max(axis=1) if len(report.rows) else np.zeros(0),
        report.scores.has_image if trained.image_specs else None,
    )
    if request.publish:
        current = publish_manifest(request.out, manifest)  # a candidate, unless nothing is current yet
        log.info(
            "model published",
            extra={"version": manifest.version, "repository": str(request.out), "current": current},
        )
    return manifest
