"""Text and image encoding of a batch: one inference request per (batch, model, version).

Plain async functions over a backend and a :class:`ModelStore`; the workers and the online
classifier call the same code, and preprocessing is ``shared.preprocess`` (training's own).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
from PIL import Image

from shared.contract import Envelope, ImageFeatures, ModelOutput, TextFeatures
from shared.inference.backend import InferenceBackend
from shared.inference.images import ImageProblem
from shared.inference.store import ModelStore
from shared.model_repo import ImageModelSpec, Manifest
from shared.preprocess import prepare_image

T = TypeVar("T")


def group_by_version(versions: Sequence[str]) -> dict[str, list[int]]:
    """Row indices per version, in first-seen order."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, version in enumerate(versions):
        groups[version].append(index)
    return dict(groups)


async def text_logits(
    backend: InferenceBackend, store: ModelStore, manifest: Manifest, texts: list[str]
) -> dict[str, np.ndarray]:
    """[len(texts), labels] logits of every text model of ``manifest``."""
    out: dict[str, np.ndarray] = {}
    for spec in manifest.text_models:
        tokenizer = store.tokenizer(manifest, spec)
        inputs = await asyncio.to_thread(tokenizer.encode, texts)
        out[spec.name] = await backend.infer(spec.name, spec.triton_version, inputs, spec.output_name)
    return out


async def image_logits(
    backend: InferenceBackend, manifest: Manifest, images: list[Image.Image]
) -> dict[str, np.ndarray]:
    """[len(images), labels] logits of every image model of ``manifest``."""
    out: dict[str, np.ndarray] = {}
    for spec in manifest.image_models:
        batch = await asyncio.to_thread(_stack, images, spec)
        inputs = {spec.input_name: batch}
        out[spec.name] = await backend.infer(spec.name, spec.triton_version, inputs, spec.output_name)
    return out


def _stack(images: list[Image.Image], spec: ImageModelSpec) -> np.ndarray:
    return np.stack([prepare_image(image, spec) for image in images])


def _outputs(logits: dict[str, np.ndarray], row: int) -> list[ModelOutput]:
    return [ModelOutput(model=name, logits=[float(x) for x in rows[row]]) for name, rows in logits.items()]


async def encode_texts(
    backend: InferenceBackend,
    store: ModelStore,
    envelopes: Sequence[Envelope],
    texts: Sequence[str],
    versions: Sequence[str],
    languages: Sequence[str | None] | None = None,
    translations: Sequence[str | None] | None = None,
) -> list[TextFeatures]:
    """TextFeatures per offer; an empty text gives status ``missing``."""
    results: list[TextFeatures | None] = [None] * len(envelopes)
    for version, rows in group_by_version(versions).items():
        manifest = await store.by_version(version)
        usable = [i for i in rows if texts[i].strip()]
        logits = await text_logits(backend, store, manifest, [texts[i] for i in usable]) if usable else {}
        position = {row: k for k, row in enumerate(usable)}
        for i in rows:
            base = envelopes[i].stamped("text_encoded").envelope()
            extra = {
                "language": languages[i] if languages else None,
                "translation_status": translations[i] if translations else None,
            }
            if i in position:
                results[i] = TextFeatures(
                    **base, **extra, model_version=version, outputs=_outputs(logits, position[i])
                )
            else:
                results[i] = TextFeatures(
                    **base, **extra, model_version=version, status="missing", reason="empty_text"
                )
    return [r for r in results if r is not None]


async def encode_images(
    backend: InferenceBackend,
    store: ModelStore,
    envelopes: Sequence[Envelope],
    images: Sequence[Image.Image | ImageProblem],
    versions: Sequence[str],
) -> list[ImageFeatures]:
    """ImageFeatures per offer; an :class:`ImageProblem` gives status ``missing`` + reason."""
    results: list[ImageFeatures | None] = [None] * len(envelopes)
    for version, rows in group_by_version(versions).items():
        manifest = await store.by_version(version)
        usable = [i for i in rows if not isinstance(images[i], ImageProblem)]
        decoded = [images[i] for i in usable]
        logits = (
            await image_logits(backend, manifest, [im for im in decoded if isinstance(im, Image.Image)])
            if usable
            else {}
        )
        position = {row: k for k, row in enumerate(usable)}
        for i in rows:
            base = envelopes[i].stamped("image_encoded").envelope()
            image = images[i]
            if isinstance(image, ImageProblem):
                results[i] = ImageFeatures(
                    **base, model_version=version, status="missing", reason=image.reason, detail=image.detail
                )
            else:
                outputs = _outputs(logits, position[i])
                results[i] = ImageFeatures(**base, model_version=version, outputs=outputs)
    return [r for r in results if r is not None]
