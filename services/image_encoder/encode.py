"""Image encoding of a batch: one inference request per (batch, model, version).

Plain async functions over a backend and a :class:`ModelStore`; the worker and the online
classifier call the same code, and preprocessing is ``shared.ml.preprocess`` (training's own).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
from PIL import Image

from shared.broker.lanes import bulk_turn, chunks, lane_of
from shared.contract import Envelope, ImageFeatures, Lane
from shared.inference.backend import InferenceBackend
from shared.inference.batching import group_by_version, joined, model_outputs
from shared.inference.store import ModelStore
from shared.ml.model_repo import ImageModelSpec, Manifest
from shared.ml.preprocess import prepare_image

from .images import ImageProblem


async def image_logits(
    backend: InferenceBackend, manifest: Manifest, images: list[Image.Image], lane: Lane = "live"
) -> dict[str, np.ndarray]:
    """[len(images), labels] logits of every image model of ``manifest``; a bulk batch in chunks
    that let live work go first (``bulk_turn``)."""
    parts: dict[str, list[np.ndarray]] = {spec.name: [] for spec in manifest.image_models}
    for rows in chunks(lane, len(images)):
        for spec in manifest.image_models:
            await bulk_turn(lane)
            batch = await asyncio.to_thread(_stack, images[rows.start : rows.stop], spec)
            inputs = {spec.input_name: batch}
            parts[spec.name].append(
                await backend.infer(spec.name, spec.triton_version, inputs, spec.output_name, lane)
            )
    return joined(parts)


def _stack(images: list[Image.Image], spec: ImageModelSpec) -> np.ndarray:
    return np.stack([prepare_image(image, spec) for image in images])


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
            await image_logits(
                backend,
                manifest,
                [im for im in decoded if isinstance(im, Image.Image)],
                lane_of(envelopes[0]),
            )
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
                results[i] = ImageFeatures(
                    **base, model_version=version, outputs=model_outputs(logits, position[i])
                )
    return [r for r in results if r is not None]
