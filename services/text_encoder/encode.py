"""Text encoding of a batch: one inference request per (batch, model, version).

Plain async functions over a backend and a :class:`ModelStore`; the worker and the online
classifier call the same code, and tokenization is ``shared.ml.preprocess`` (training's own).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from shared.broker.lanes import bulk_turn, chunks, lane_of
from shared.contract import Envelope, Lane, TextFeatures
from shared.inference.backend import InferenceBackend
from shared.inference.batching import group_by_version, joined, model_outputs
from shared.inference.store import ModelStore
from shared.ml.model_repo import Manifest


async def text_logits(
    backend: InferenceBackend, store: ModelStore, manifest: Manifest, texts: list[str], lane: Lane = "live"
) -> dict[str, np.ndarray]:
    """[len(texts), labels] logits of every text model of ``manifest``; a bulk batch in chunks
    that let live work go first (``bulk_turn``)."""
    parts: dict[str, list[np.ndarray]] = {spec.name: [] for spec in manifest.text_models}
    for rows in chunks(lane, len(texts)):
        chunk = texts[rows.start : rows.stop]
        for spec in manifest.text_models:
            await bulk_turn(lane)
            tokenizer = store.tokenizer(manifest, spec)
            inputs = await asyncio.to_thread(tokenizer.encode, chunk)
            parts[spec.name].append(
                await backend.infer(spec.name, spec.triton_version, inputs, spec.output_name, lane)
            )
    return joined(parts)


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
        logits = (
            await text_logits(backend, store, manifest, [texts[i] for i in usable], lane_of(envelopes[0]))
            if usable
            else {}
        )
        position = {row: k for k, row in enumerate(usable)}
        for i in rows:
            base = envelopes[i].stamped("text_encoded").envelope()
            extra = {
                "language": languages[i] if languages else None,
                "translation_status": translations[i] if translations else None,
            }
            if i in position:
                results[i] = TextFeatures(
                    **base, **extra, model_version=version, outputs=model_outputs(logits, position[i])
                )
            else:
                results[i] = TextFeatures(
                    **base, **extra, model_version=version, status="missing", reason="empty_text"
                )
    return [r for r in results if r is not None]
