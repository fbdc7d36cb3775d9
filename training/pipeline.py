"""`catalog train`: base models -> ONNX -> fusion on the held-out slice -> evaluation -> manifest.

Every run publishes a new revision (shared.model_repo); earlier revisions stay. Checkpoints live
in a work dir keyed by data fingerprint, profile and bases, so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from shared.categories import label_of
from shared.model_repo import (
    ImageModelSpec,
    LabelSpec,
    Manifest,
    TextModelSpec,
    next_revision,
    publish_manifest,
)
from shared.preprocess import TextTokenizer
from training import bow_model, image_model, text_model
from training.data import Catalog, load_catalog, make_split, rebalance
from training.evaluate import evaluate_rows
from training.export import write_config
from training.fusion_train import train_fusion
from training.profiles import Profile
from training.scoring import score

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
    # False: return the evaluated manifest unpublished; the caller publishes it (or promotes it).
    publish: bool = True
    # Called with each stage's name as it starts (text, image, fusion, evaluate): progress reports.
    on_stage: Callable[[str], None] | None = None


def work_dir_for(request: TrainRequest, catalog: Catalog) -> Path:
    if request.work_dir is not None:
        return request.work_dir
    bases = hashlib.sha256(json.dumps([request.text_bases, request.image_bases]).encode()).hexdigest()[:8]
    return (
        request.out
        / ".work"
        / f"{catalog.fingerprint}-{request.profile.name}-{request.profile.key()}-{bases}"
    )


def _train_text(
    request: TrainRequest, catalog: Catalog, y: np.ndarray, rows: np.ndarray, revision: int, work: Path
) -> tuple[list[TextModelSpec], dict[str, float]]:
    specs, checks = [], {}
    rows = np.array([i for i in rows if catalog.texts[i]], dtype=np.int64)
    texts = [catalog.texts[i] for i in rows]
    n_labels = int(y.max()) + 1 if len(y) else 1
    profile = request.profile
    for base in request.text_bases:
        bow = bow_model.is_bow(base)
        name = "text_bow" if bow else text_model.resolve_text_base(base)[1]
        spec = TextModelSpec(
            name=name,
            base=base,
            triton_version=revision,
            tokenizer_dir=f"{name}/{revision}/tokenizer",
            max_length=profile.bow_max_length if bow else profile.text_max_length,
        )
        work_spec = spec.model_copy(update={"tokenizer_dir": f"{name}/tokenizer"})
        checkpoint = work / name / "checkpoint.pt"
        model: torch.nn.Module
        if bow:
            model = bow_model.build_bow_model(n_labels, work / name / "tokenizer", profile.bow_buckets)
            tokenizer = TextTokenizer(work, work_spec)
            text_model.train_text_model(
                model, tokenizer, texts, y[rows], bow_model.bow_training(profile), checkpoint, name
            )
        else:
            model = text_model.build_text_model(base, n_labels, work / name / "tokenizer")
            tokenizer = TextTokenizer(work, work_spec)
            text_model.train_text_model(
                model, tokenizer, texts, y[rows], text_model.transformer_training(profile), checkpoint, name
            )
        model_dir = request.out / name / str(revision)
        onnx_path = text_model.export_text_model(model, work / name / "tokenizer", model_dir, spec)
        write_config(request.out, spec, request.profile.max_batch_size, request.instance_kind)
        checks[name] = _onnx_gap_text(model, tokenizer, texts[:16], onnx_path, spec)
        specs.append(spec)
    return specs, checks


def _onnx_gap_text(
    model: torch.nn.Module,
    tokenizer: TextTokenizer,
    texts: list[str],
    onnx_path: Path,
    spec: TextModelSpec,
) -> float:
    from training.scoring import onnx_session

    if not texts:
        return 0.0
    reference = text_model.torch_text_logits(model, tokenizer, texts)
    session = onnx_session(onnx_path)
    exported = session.run([spec.output_name], tokenizer.encode(texts))[0]  # type: ignore[attr-defined]
    return float(np.abs(reference - exported).max())


def _train_images(
    request: TrainRequest, catalog: Catalog, y: np.ndarray, rows: np.ndarray, revision: int, work: Path
) -> tuple[list[ImageModelSpec], dict[str, float]]:
    from training.scoring import onnx_session

    specs, checks = [], {}
    n_labels = int(y.max()) + 1 if len(y) else 1
    for base in request.image_bases:
        arch, _, name = image_model.resolve_image_base(base)
        model, mean, std = image_model.build_image_model(base, n_labels)
        spec = ImageModelSpec(
            name=name,
            base=arch,
            triton_version=revision,
            image_size=request.profile.image_size,
            mean=mean,
            std=std,
        )
        pixels, valid = image_model.image_cache(
            catalog.image_paths, spec, request.max_pixels, work / f"images_{spec.image_size}_{spec.resize}"
        )
        train_rows = np.array([i for i in rows if valid[i]], dtype=np.int64)
        image_model.train_image_model(
            model, pixels, train_rows, y[train_rows], request.profile, work / name / "checkpoint.pt", name
        )
        onnx_path = image_model.export_image_model(model, request.out / name / str(revision), spec)
        write_config(request.out, spec, request.profile.max_batch_size, request.instance_kind)
        sample = np.ascontiguousarray(pixels[train_rows[:8]])
        if len(sample):
            reference = image_model.torch_image_logits(model, sample)
            exported = onnx_session(onnx_path).run([spec.output_name], {spec.input_name: sample})[0]  # type: ignore[attr-defined]
            checks[name] = float(np.abs(reference - exported).max())
        specs.append(spec)
    return specs, checks


def train(request: TrainRequest) -> Manifest:
    """Train, export, fuse, evaluate and publish one new revision of ``request.out``."""
    started = time.monotonic()
    torch.manual_seed(request.profile.seed)
    profile = request.profile
    catalog = load_catalog(request.data_dir, profile.max_chars, require_labels=True)
    codes = catalog.codes()
    index = {code: i for i, code in enumerate(codes)}
    y = np.array([index[c] for c in catalog.labels or []], dtype=np.int64)
    split = make_split(catalog, profile.seed, profile.test_fraction, profile.fusion_fraction)
    work = work_dir_for(request, catalog)
    work.mkdir(parents=True, exist_ok=True)
    split.save(work / "split.json", catalog)
    base_rows = rebalance(split.base, list(y), profile.seed) if profile.rebalance else split.base
    request.out.mkdir(parents=True, exist_ok=True)
    revision = next_revision(request.out)
    timings: dict[str, float] = {}

    stage = request.on_stage or (lambda _name: None)
    mark = time.monotonic()
    stage("text")
    text_specs, text_checks = _train_text(request, catalog, y, base_rows, revision, work)
    timings["text_s"] = round(time.monotonic() - mark, 1)
    mark = time.monotonic()
    stage("image")
    image_specs, image_checks = _train_images(request, catalog, y, base_rows, revision, work)
    timings["image_s"] = round(time.monotonic() - mark, 1)
    if not text_specs and not image_specs:
        raise ValueError("Nothing to train: give at least one text or image base.")

    counts = np.bincount(y[split.base], minlength=len(codes))
    training_info: dict[str, object] = {
        "profile": profile.as_dict(),
        "data_dir": str(request.data_dir),
        "data_fingerprint": catalog.fingerprint,
        "data_stats": catalog.stats,
        "split": {"base": len(split.base), "fusion": len(split.fusion), "test": len(split.test)},
        "split_file": f"training/{revision}/split.json",
        "rebalance": profile.rebalance,
        "class_counts": {str(code): int(n) for code, n in zip(codes, counts, strict=True)},
        "onnx_max_abs_diff": {**text_checks, **image_checks},
    }
    manifest = Manifest(
        version=f"r{revision}-{datetime.now(UTC):%Y%m%dT%H%M%S}",
        revision=revision,
        created_at=datetime.now(UTC),
        labels=[LabelSpec(prdtypecode=code, name=label_of(code)) for code in codes],
        text_models=text_specs,
        image_models=image_specs,
        training=training_info,
    )
    mark = time.monotonic()
    stage("fusion")
    fusion_scores = score(
        request.out,
        manifest,
        [catalog.texts[i] for i in split.fusion],
        [catalog.image_paths[i] for i in split.fusion],
        request.max_pixels,
    )
    directory = f"fusion/{revision}"
    manifest.fusion = train_fusion(
        {**fusion_scores.text_logits, **fusion_scores.image_logits},
        fusion_scores.has_text,
        fusion_scores.has_image,
        y[split.fusion],
        [s.name for s in text_specs],
        [s.name for s in image_specs],
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
    report = evaluate_rows(request.out, manifest, catalog, split.test, request.max_pixels, split_dir)
    timings["evaluate_s"] = round(time.monotonic() - mark, 1)
    timings["total_s"] = round(time.monotonic() - started, 1)
    manifest.training["timings"] = timings
    manifest.metrics = report.summary()
    if request.publish:
        publish_manifest(request.out, manifest)
        log.info("model published", extra={"version": manifest.version, "repository": str(request.out)})
    return manifest
