"""Scoring offers through the exported repository, exactly as serving does.

ONNX Runtime on the exported files, inputs prepared by shared.ml.preprocess, probabilities by
shared.ml.fusion.FusionModel. `catalog evaluate` and the fusion slice of `catalog train` both use
this module, so evaluated predictions are the served ones (no training/serving skew).

Photos are decoded ``IMAGE_CHUNK`` at a time (by a thread pool) and dropped once every image
model has scored them: memory is bounded by the chunk, not by the number of offers scored.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from shared.ml.fusion import FusionModel, path_for
from shared.ml.model_repo import ImageModelSpec, Manifest, TextModelSpec
from shared.ml.preprocess import TextTokenizer, decode_image, prepare_image, specs_decode_target
from training.progress import track

TEXT_BATCH = 64
IMAGE_BATCH = 32
IMAGE_CHUNK = 128


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


def decode_photo(path: Path | None, max_pixels: int, target: int | None) -> Image.Image | None:
    """The photo at ``path`` decoded as the image encoder decodes it (None when unusable)."""
    try:
        return decode_image(path.read_bytes(), max_pixels, target) if path is not None else None
    except (ValueError, OSError):
        return None


def image_logits(
    repository: Path,
    specs: list[ImageModelSpec],
    paths: list[Path | None],
    n_labels: int,
    max_pixels: int,
    workers: int = 2,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(logits per image model, bool [N] decodable) of ``paths``, decoded chunk by chunk, each
    photo once, to the manifest's decode target as the image encoder decodes it."""
    target = specs_decode_target(specs)
    sessions = {
        spec.name: onnx_session(model_file(repository, spec.name, spec.triton_version)) for spec in specs
    }
    out = {spec.name: np.zeros((len(paths), n_labels), dtype=np.float32) for spec in specs}
    has = np.zeros(len(paths), dtype=bool)
    chunks = range(0, len(paths), IMAGE_CHUNK)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for start in track(chunks, description="score images", total=len(chunks)):
            part = paths[start : start + IMAGE_CHUNK]
            decoded = list(pool.map(lambda p: decode_photo(p, max_pixels, target), part))
            rows = [k for k, image in enumerate(decoded) if image is not None]
            for spec in specs:
                for s in range(0, len(rows), IMAGE_BATCH):
                    batch = rows[s : s + IMAGE_BATCH]
                    pixels = np.stack([prepare_image(decoded[k], spec) for k in batch])  # type: ignore[arg-type]
                    feeds = {spec.input_name: pixels}
                    out[spec.name][[start + k for k in batch]] = sessions[spec.name].run(  # type: ignore[attr-defined]
                        [spec.output_name], feeds
                    )[0]
            has[[start + k for k in rows]] = True
    return out, has


def score(
    repository: Path,
    manifest: Manifest,
    texts: list[str],
    image_paths: list[Path | None],
    max_pixels: int,
) -> Scores:
    n_labels = len(manifest.labels)
    text = {spec.name: text_logits(repository, spec, texts, n_labels) for spec in manifest.text_models}
    image: dict[str, np.ndarray] = {}
    has_image = np.zeros(len(texts), dtype=bool)
    if manifest.image_models:
        image, has_image = image_logits(
            repository, list(manifest.image_models), image_paths, n_labels, max_pixels
        )
    has_text = np.array([bool(t) for t in texts], dtype=bool) & bool(manifest.text_models)
    return Scores(text, image, has_text, has_image)


def fuse(
    fusion: FusionModel,
    scores: Scores,
    prior: np.ndarray,
    use_text: bool = True,
    use_image: bool = True,
    calibrated: bool = True,
) -> np.ndarray:
    """Fusion probabilities per offer, each offer on the path of the modalities it has.

    ``use_text``/``use_image`` switch a modality off for every offer (modality-only metrics);
    an offer left with none gets the training class prior; ``calibrated=False``: the fusion's
    probabilities before temperature scaling (the report measures what calibration gains).
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
                calibrated=calibrated,
            )
    return probs
