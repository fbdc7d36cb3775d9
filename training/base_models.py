"""Cross-fitting and export of every base model (text and image) of one training run.

Each base model is trained K times on the other folds (out-of-fold logits for the fusion) and
once on all non-test rows (exported to ONNX for serving); see training.oof for why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from shared.ml.model_repo import ImageModelSpec, TextModelSpec
from shared.ml.preprocess import TextTokenizer
from training import bow_model, image_data, image_front, image_model, subword_model, text_model
from training.export import write_config
from training.loop import FitResult
from training.oof import CrossFit, Inner, cross_fit
from training.profiles import Profile
from training.scoring import onnx_session

log = logging.getLogger(__name__)


@dataclass
class BaseRun:
    """Inputs shared by all base models of one run."""

    out: Path
    work: Path
    revision: int
    profile: Profile
    labels: np.ndarray
    n_labels: int
    rows: np.ndarray
    folds: np.ndarray
    inner: Inner
    instance_kind: str
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


@dataclass
class Trained:
    """Specs of the exported models, their out-of-fold logits and diagnostics."""

    text_specs: list[TextModelSpec] = field(default_factory=list)
    image_specs: list[ImageModelSpec] = field(default_factory=list)
    oof: dict[str, CrossFit] = field(default_factory=dict)
    onnx_gap: dict[str, float] = field(default_factory=dict)
    runs: dict[str, dict[str, dict[str, object]]] = field(default_factory=dict)


def _text_spec(base: str, run: BaseRun) -> tuple[TextModelSpec, str]:
    profile = run.profile
    if subword_model.is_subword(base):
        name = subword_model.model_name(base)
        return TextModelSpec(
            name=name,
            base="subword" if base in subword_model.SUBWORD_BASES else base,
            triton_version=run.revision,
            tokenizer_dir=f"{name}/{run.revision}",
            max_length=profile.subword_max_features,
            subword=subword_model.subword_spec(profile, base),
        ), "subword"
    if bow_model.is_bow(base):
        kind, name, length = "bow", "text_bow", profile.bow_max_length
    else:
        kind, name, length = "transformer", text_model.resolve_text_base(base)[1], profile.text_max_length
    spec = TextModelSpec(
        name=name,
        base=base,
        triton_version=run.revision,
        tokenizer_dir=f"{name}/{run.revision}/tokenizer",
        max_length=length,
    )
    return spec, kind


def train_text_models(run: BaseRun, bases: list[str], texts: list[str], trained: Trained) -> None:
    """Cross-fit, refit and export every text base over the rows that have text."""
    has_text = np.array([bool(texts[i]) for i in run.rows], dtype=bool)
    for base in bases:
        _train_text_model(run, base, texts, run.rows[has_text], run.folds[has_text], trained)


def _train_text_model(
    run: BaseRun, base: str, texts: list[str], rows: np.ndarray, folds: np.ndarray, trained: Trained
) -> None:
    profile = run.profile
    spec, kind = _text_spec(base, run)
    name = spec.name
    tokenizer_dir = run.work / name / "tokenizer"

    def build() -> torch.nn.Module:
        torch.manual_seed(profile.seed)
        if kind == "subword":
            return subword_model.build_subword_model(profile, run.n_labels, spec.subword)
        if kind == "bow":
            sparse = bow_model.trains_sparse(profile, run.n_labels)
            return bow_model.build_bow_model(run.n_labels, tokenizer_dir, profile.bow_buckets, sparse)
        return text_model.build_text_model(base, run.n_labels, tokenizer_dir)

    first = build()
    work_spec = spec.model_copy(update={"tokenizer_dir": f"{name}/tokenizer"})
    tokenizer = TextTokenizer(run.work, work_spec)
    encoded = text_model.EncodedTexts(tokenizer, texts)
    models = iter([first])

    def train_one(fit_rows: np.ndarray, val_rows: np.ndarray, tag: str) -> tuple[object, FitResult]:
        model = (next(models, None) or build()).to(run.device)
        checkpoint = run.work / name / tag / "checkpoint.pt"
        fit_labels, val_labels = run.labels[fit_rows], run.labels[val_rows]
        if kind == "subword":
            result = subword_model.fit_subword(
                model, encoded, fit_rows, fit_labels, val_rows, val_labels, profile, checkpoint,  # type: ignore[arg-type]
                f"{name} {tag}", run.device,
            )  # fmt: skip
        else:
            settings = {"bow": bow_model.bow_training, "transformer": text_model.transformer_training}[kind]
            result = text_model.train_text_model(
                model, encoded, fit_rows, fit_labels, val_rows, val_labels, settings(profile), checkpoint,
                f"{name} {tag}", None, run.device,
            )  # fmt: skip
        return model, result

    def predict(model: object, rows: np.ndarray) -> np.ndarray:
        return text_model.logits_of(model, encoded, rows)  # type: ignore[arg-type]

    fitted = cross_fit(rows, folds, profile.oof_folds, run.n_labels, run.inner, train_one, predict, name)
    model = fitted.model
    model_dir = run.out / name / str(run.revision)
    if kind == "subword":
        onnx_path = subword_model.export_subword_model(model, model_dir, spec)  # type: ignore[arg-type]
    else:
        onnx_path = text_model.export_text_model(model, tokenizer_dir, model_dir, spec)  # type: ignore[arg-type]
    write_config(run.out, spec, profile.max_batch_size, run.instance_kind)
    sample = rows[:16]
    if len(sample):
        reference = predict(model, sample)
        served = TextTokenizer(run.out, spec).encode([texts[i] for i in sample])
        exported = onnx_session(onnx_path).run([spec.output_name], served)[0]  # type: ignore[attr-defined]
        trained.onnx_gap[name] = float(np.abs(reference - exported).max())
    trained.text_specs.append(spec)
    trained.oof[name] = fitted
    trained.runs[name] = fitted.runs


def train_image_models(
    run: BaseRun, bases: list[str], image_paths: list[Path | None], max_pixels: int, trained: Trained
) -> None:
    """Cross-fit (``image_oof_folds``), refit and export every image base over readable photos."""
    for base in bases:
        _train_image_model(run, base, image_paths, max_pixels, trained)


def _front_cache(
    run: BaseRun, base: str, pixels: image_data.PixelStore, rows: np.ndarray, name: str
) -> tuple[int, image_front.FrontCache] | None:
    """(frozen stages, their activations of ``rows``) when the profile and backbone allow it."""
    model, _, _ = image_model.build_image_model(base, run.n_labels)
    stages = image_front.front_stages(model, run.profile.image_freeze_fraction)
    if stages is None:
        log.info("front cache not possible; training on pixels", extra={"model": name})
        return None
    model.eval()
    front = image_front.Front(model, stages)
    path = run.work / name / f"front{stages}x{run.profile.image_front_views}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    views = run.profile.image_front_views
    return stages, image_front.FrontCache(front, pixels, rows, path, views, run.profile.seed)


def _train_image_model(
    run: BaseRun, base: str, image_paths: list[Path | None], max_pixels: int, trained: Trained
) -> None:
    profile = run.profile
    arch, _, name = image_model.resolve_image_base(base)
    _, mean, std = image_model.build_image_model(base, run.n_labels)
    spec = ImageModelSpec(
        name=name,
        base=arch,
        triton_version=run.revision,
        image_size=profile.image_size,
        mean=mean,
        std=std,
    )
    pixels, valid = image_data.build_pixel_store(
        image_paths,
        spec,
        max_pixels,
        # every image model of a run has the profile's input size: the manifest's decode target
        run.work / f"images_{spec.image_size}_{spec.resize}_decoded{profile.image_size}",
        profile.image_decode_workers,
        profile.image_size,
    )
    usable = valid[run.rows]
    rows, folds = run.rows[usable], run.folds[usable] % profile.image_oof_folds

    cached = _front_cache(run, base, pixels, rows, name) if profile.image_cache_front else None

    def train_one(fit_rows: np.ndarray, val_rows: np.ndarray, tag: str) -> tuple[object, FitResult]:
        torch.manual_seed(profile.seed)
        model, _, _ = image_model.build_image_model(base, run.n_labels)
        common = (run.labels[fit_rows], profile, run.work / name / tag / "checkpoint.pt", f"{name} {tag}")
        if cached is not None:
            stages, cache = cached
            tail, result = image_front.train_tail(
                model, stages, cache, fit_rows, *common, val_rows, run.labels[val_rows]
            )
            tails[id(model)] = tail
            return model, result
        result = image_model.train_image_model(
            model, pixels, fit_rows, *common, val_rows, run.labels[val_rows], run.device
        )
        return model, result

    tails: dict[int, image_front.Tail] = {}

    def predict(model: object, rows: np.ndarray) -> np.ndarray:
        if cached is not None and id(model) in tails:
            return image_front.tail_logits(tails.pop(id(model)), cached[1], rows)
        return image_model.store_logits(model, pixels, rows)  # type: ignore[arg-type]

    fitted = cross_fit(
        rows, folds, profile.image_oof_folds, run.n_labels, run.inner, train_one, predict, name
    )
    model = fitted.model
    onnx_path = image_model.export_image_model(model, run.out / name / str(run.revision), spec)  # type: ignore[arg-type]
    write_config(run.out, spec, profile.max_batch_size, run.instance_kind)
    sample = pixels.read(rows[:8])
    if len(sample):
        reference = image_model.torch_image_logits(model, sample)  # type: ignore[arg-type]
        exported = onnx_session(onnx_path).run([spec.output_name], {spec.input_name: sample})[0]  # type: ignore[attr-defined]
        trained.onnx_gap[name] = float(np.abs(reference - exported).max())
    trained.image_specs.append(spec)
    trained.oof[name] = fitted
    trained.runs[name] = fitted.runs
