"""Scoring offers through the exported repository, exactly as serving does.

ONNX Runtime on the exported files, inputs prepared by shared.preprocess, probabilities by
shared.fusion.FusionModel. `catalog evaluate` and the fusion slice of `catalog train` both use
this module, so evaluated predictions are the served ones (no training/serving skew).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import track

from shared.fusion import FusionModel, path_for
from shared.model_repo import ImageModelSpec, Manifest, TextModelSpec
from shared.preprocess import TextTokenizer, decode_image, decode_target, prepare_image

TEXT_BATCH = 64
IMAGE_BATCH = 32


@dataclass
class Scores:
    """Per-model logits of some offers (rows without the modality hold zeros)."""

    text_logits: dict[str, np.ndarray]
    image_logits: dict[str, np.ndarray]
    has_text: np.ndarray
    has_image: np.ndarray


def onnx_session(path: Path, threads: int = 2) -> object:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def model_file(repository: Path, name: str, version: int) -> Path:
    return Path(repository) / name / str(version) / "model.onnx"


def text_logits(repository: Path, spec: TextModelSpec, texts: list[str], n_labels: int) -> np.ndarray:
    """Logits of non-empty ``texts`` (zeros for empty ones), batched by length for speed."""
    session = onnx_session(model_file(repository, spec.name, spec.triton_version))
    tokenizer = TextTokenizer(repository, spec)
    out = np.zeros((len(texts), n_labels), dtype=np.float32)
    rows = sorted((i for i, t in enumerate(texts) if t), key=lambda i: len(texts[i]))
    batches = [rows[s : s + TEXT_BATCH] for s in range(0, len(rows), TEXT_BATCH)]
    for batch in track(batches, description=f"score {spec.name}"):
        feeds = tokenizer.encode([texts[i] for i in batch])
        out[batch] = session.run([spec.output_name], feeds)[0]  # type: ignore[attr-defined]
    return out


def load_images(paths: list[Path | None], max_pixels: int, target: int | None = None) -> list[object | None]:
    """Decoded PIL images (JPEG draft mode down to ``target``, as served), None where unusable."""
    images: list[object | None] = []
    for path in track(paths, description="decode images"):
        try:
            images.append(decode_image(path.read_bytes(), max_pixels, target) if path is not None else None)
        except (ValueError, OSError):
            images.append(None)
    return images


def image_logits(
    repository: Path, spec: ImageModelSpec, images: list[object | None], n_labels: int
) -> np.ndarray:
    session = onnx_session(model_file(repository, spec.name, spec.triton_version))
    out = np.zeros((len(images), n_labels), dtype=np.float32)
    rows = [i for i, image in enumerate(images) if image is not None]
    batches = [rows[s : s + IMAGE_BATCH] for s in range(0, len(rows), IMAGE_BATCH)]
    for batch in track(batches, description=f"score {spec.name}"):
        pixels = np.stack([prepare_image(images[i], spec) for i in batch])  # type: ignore[arg-type]
        out[batch] = session.run([spec.output_name], {spec.input_name: pixels})[0]  # type: ignore[attr-defined]
    return out


def score(
    repository: Path,
    manifest: Manifest,
    texts: list[str],
    image_paths: list[Path | None],
    max_pixels: int,
) -> Scores:
    n_labels = len(manifest.labels)
    text = {spec.name: text_logits(repository, spec, texts, n_labels) for spec in manifest.text_models}
    images: list[object | None] = (
        load_images(image_paths, max_pixels, decode_target(manifest))
        if manifest.image_models
        else [None] * len(texts)
    )
    image = {spec.name: image_logits(repository, spec, images, n_labels) for spec in manifest.image_models}
    has_text = np.array([bool(t) for t in texts]) & bool(manifest.text_models)
    has_image = np.array([im is not None for im in images]) & bool(manifest.image_models)
    return Scores(text, image, has_text, has_image)


def fuse(
    fusion: FusionModel, scores: Scores, prior: np.ndarray, use_text: bool = True, use_image: bool = True
) -> np.ndarray:
    """Fusion probabilities per offer, each offer on the path of the modalities it has.

    ``use_text``/``use_image`` switch a modality off for every offer (modality-only metrics);
    an offer left with none gets the training class prior.
    """
    n = len(scores.has_text)
    probs = np.tile(prior, (n, 1))
    has_text = scores.has_text & use_text
    has_image = scores.has_image & use_image
    for text_on in (True, False):
        for image_on in (True, False):
            mask = (has_text == text_on) & (has_image == image_on)
            if not mask.any() or not (text_on or image_on):
                continue
            if path_for(text_on, image_on) not in fusion.available_paths:
                continue
            probs[mask] = fusion.predict_proba(
                {k: v[mask] for k, v in scores.text_logits.items()} if text_on else None,
                {k: v[mask] for k, v in scores.image_logits.items()} if image_on else None,
            )
    return probs
