"""Occlusion attributions of one offer: words, photo regions, modalities.

The offer is perturbed (each distinct word removed; each grid cell of the photo greyed out),
every copy goes through the served encoders in batched requests, and all copies are fused in
one call. A weight is the drop of the predicted category's fused log-odds when its piece is
hidden (log-odds rather than probability, which saturates near 1 and would hide everything in a
confident decision), so what is explained is the served decision, whatever the models inside.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from shared.contract import CategoryScore
from shared.explanation import Explanation, Heatmap, ModalityShare, WordWeight

from .regions import heatmap_png, occluded_copies
from .words import distinct_words, without_word

EncodeText = Callable[[list[str]], Awaitable[list[Any]]]
"""Text features of each text, as the text encoder makes them (an empty text: a missing half)."""
EncodeImage = Callable[[list[Image.Image]], Awaitable[list[Any]]]
"""Image features of each photo, as the image encoder makes them."""
Classify = Callable[[list[tuple[Any | None, Any | None]]], Awaitable[np.ndarray]]
"""Fused probabilities [pairs, labels] (label order) of (text, image) feature pairs."""


@dataclass(frozen=True)
class ServedModels:
    """One model version's encoders and fusion, as callables (built by the composition root)."""

    version: str
    labels: list[tuple[int, str]]
    encode_text: EncodeText
    encode_image: EncodeImage
    classify: Classify
    text_models: int = 1
    image_models: int = 1


@dataclass(frozen=True)
class ExplainOptions:
    grid: int = 5
    max_words: int = 48
    batch_size: int = 32
    top_words: int = 5
    top_k: int = 3


async def _chunked(
    encode: Callable[[list[Any]], Awaitable[list[Any]]], items: list[Any], size: int
) -> tuple[list[Any], int]:
    """Features of ``items`` in requests of at most ``size`` (run concurrently); requests sent."""
    chunks = [items[s : s + size] for s in range(0, len(items), size)]
    parts = await asyncio.gather(*(encode(chunk) for chunk in chunks))
    return [feature for part in parts for feature in part], len(chunks)


def _shapley(p_both: float, p_text: float | None, p_image: float | None, p_none: float) -> ModalityShare:
    """Two-player Shapley split of ``p_both - p_none`` between text and image."""
    text: float | None
    image: float | None
    if p_text is not None and p_image is not None:
        text = ((p_text - p_none) + (p_both - p_image)) / 2
        image = ((p_image - p_none) + (p_both - p_text)) / 2
    else:  # one modality alone carries everything that differs from the prior
        text = p_both - p_none if p_text is not None else None
        image = p_both - p_none if p_image is not None else None
    total = abs(text or 0.0) + abs(image or 0.0)
    share_text = abs(text or 0.0) / total if total else (1.0 if image is None else 0.0)
    return ModalityShare(
        text=_r(text),
        image=_r(image),
        share_text=round(share_text, 4),
        share_image=round(1.0 - share_text, 4),
        p_both=_r(p_both),
        p_text_only=_r(p_text),
        p_image_only=_r(p_image),
        p_none=_r(p_none),
    )


def log_odds(p: Any) -> Any:
    """log(p / (1 - p)), bounded: unlike p itself, it still moves when a category is near-certain."""
    q = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(q / (1 - q))


def _r(value: float | None) -> Any:
    return None if value is None else round(float(value), 5)


def _top(labels: Sequence[tuple[int, str]], probs: np.ndarray, k: int) -> list[CategoryScore]:
    order = np.argsort(-probs, kind="stable")[:k]
    return [
        CategoryScore(
            prdtypecode=labels[i][0], label=labels[i][1], probability=float(np.clip(probs[i], 0, 1))
        )
        for i in order
    ]


async def explain_offer(
    models: ServedModels, text: str, image: Image.Image | None, options: ExplainOptions | None = None
) -> Explanation:
    """Why ``text`` (+ ``image``) gets its category from ``models``.

    Costs one request per chunk of ``batch_size`` copies and model, and one fusion call.
    """
    opts = options or ExplainOptions()
    started = time.perf_counter()
    words, truncated = distinct_words(text, opts.max_words) if text.strip() else ([], False)
    texts = [text, "", *(without_word(text, w) for w in words)]
    images = [image, *occluded_copies(image, opts.grid, opts.grid)] if image is not None else []
    (text_feats, text_requests), (image_feats, image_requests) = await asyncio.gather(
        _chunked(models.encode_text, texts, opts.batch_size),
        _chunked(models.encode_image, images, opts.batch_size),
    )
    base_text, no_text = text_feats[0], text_feats[1]
    base_image = image_feats[0] if images else None
    has_text = bool(text.strip())
    pairs: list[tuple[Any, Any]] = [(base_text, base_image), (no_text, None)]
    if has_text and base_image is not None:
        pairs += [(base_text, None), (None, base_image)]
    pairs += [(t, base_image) for t in text_feats[2:]]
    pairs += [(base_text, i) for i in image_feats[1:]]
    probs = await models.classify(pairs)
    base = probs[0]
    best = int(np.argmax(base))
    p = probs[:, best]
    p_text: float | None = float(p[2]) if len(pairs) > 2 and base_image is not None and has_text else None
    p_image: float | None = float(p[3]) if p_text is not None else None
    if p_text is None:  # a single modality: its "alone" probability is the whole one
        p_text = float(p[0]) if has_text else None
        p_image = float(p[0]) if base_image is not None else None
    first_word = 4 if has_text and base_image is not None else 2
    drop = log_odds(p[0]) - log_odds(p)  # what hiding each piece costs the predicted category
    word_weights = [
        WordWeight(word=w, weight=round(float(d), 4))
        for w, d in zip(words, drop[first_word : first_word + len(words)], strict=True)
    ]
    heatmap = None
    if base_image is not None and image is not None:
        cells = drop[first_word + len(words) :].reshape(opts.grid, opts.grid)
        png = await asyncio.to_thread(heatmap_png, image, cells)
        heatmap = Heatmap(
            rows=opts.grid,
            cols=opts.grid,
            weights=[[round(float(v), 4) for v in row] for row in cells],
            png_base64=png,
        )
    ranked = sorted(word_weights, key=lambda w: -w.weight)
    label = models.labels[best]
    return Explanation(
        model_version=models.version,
        prdtypecode=label[0],
        label=label[1],
        confidence=float(np.clip(base[best], 0, 1)),
        top_k=_top(models.labels, base, opts.top_k),
        text=text,
        words_for=[w for w in ranked if w.weight > 0][: opts.top_words],
        words_against=[w for w in reversed(ranked) if w.weight < 0][: opts.top_words],
        words=word_weights,
        words_truncated=truncated,
        heatmap=heatmap,
        modalities=_shapley(float(p[0]), p_text, p_image, float(p[1])),
        inference_requests=(text_requests if has_text else 0) * models.text_models
        + image_requests * models.image_models,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )
