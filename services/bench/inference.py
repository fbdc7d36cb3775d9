"""``catalog bench inference``: offers/s through the encoders and fusion, per stage.

Runs the workers' own functions (no Redis) on batches of real offers: a catalog in the
challenge layout, or a synthetic one generated on the spot.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from services.fusion.classify import Pair, classify_pairs
from services.image_encoder.encode import encode_images
from services.image_encoder.images import load_images
from services.text_encoder.encode import encode_texts
from shared.config import Settings
from shared.contract import ListingSubmitted
from shared.inference.factory import create_backend
from shared.inference.store import ModelStore


def _offers(data: Path, n: int) -> tuple[list[str], list[str | None]]:
    from training.data import load_catalog

    catalog = load_catalog(data)
    texts = catalog.texts[:n]
    uris = [f"file://{p.resolve()}" if p else None for p in catalog.image_paths[:n]]
    return texts, uris


def _rate(count: int, seconds: list[float]) -> dict[str, float]:
    total = sum(seconds)
    return {
        "offers_per_s": round(count / total, 1) if total else 0.0,
        "batch_ms_p50": round(statistics.median(seconds) * 1000, 1) if seconds else 0.0,
        "batch_ms_max": round(max(seconds) * 1000, 1) if seconds else 0.0,
    }


async def run_bench(settings: Settings, data: Path | None, n: int, batch_size: int) -> dict[str, Any]:
    """Offers/s per stage on ``data`` (a synthetic catalog of ``n`` offers when None)."""
    if data is not None:
        return await _bench(settings, data, n, batch_size)
    from training.synth import generate_catalog

    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as folder:
        generate_catalog(Path(folder), n, 0)
        return await _bench(settings, Path(folder), n, batch_size)


async def _bench(settings: Settings, data: Path, n: int, batch_size: int) -> dict[str, Any]:
    texts, uris = _offers(data, n)
    settings = settings.model_copy(update={"image_roots": [data.resolve()]})
    backend = create_backend(settings)
    store = ModelStore(settings.model_repository, backend, ("text", "image"), 3600)
    manifest = await store.current()
    events = [ListingSubmitted.new(f"bench{i}") for i in range(len(texts))]
    batches = [range(s, min(s + batch_size, len(events))) for s in range(0, len(events), batch_size)]
    timings: dict[str, list[float]] = {"text": [], "image_load": [], "image_infer": [], "fusion": []}
    async with httpx.AsyncClient() as client:
        for k, rows in enumerate([batches[0], *batches]):  # the first batch warms up, not timed
            ev = [events[i] for i in rows]
            version = [manifest.version] * len(ev)
            t0 = time.perf_counter()
            text = await encode_texts(backend, store, ev, [texts[i] for i in rows], version)
            t1 = time.perf_counter()
            images = await load_images([uris[i] for i in rows], settings, client)
            t2 = time.perf_counter()
            image = await encode_images(backend, store, ev, images, version)
            t3 = time.perf_counter()
            pairs = [Pair(a, b) for a, b in zip(text, image, strict=True)]
            await classify_pairs(store, pairs, settings.top_k)
            t4 = time.perf_counter()
            if k:
                for name, seconds in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                    timings[name].append(seconds)
    await backend.close()
    count = len(events)
    image_total = [a + b for a, b in zip(timings["image_load"], timings["image_infer"], strict=True)]
    return {
        "backend": settings.inference_backend,
        "model_version": manifest.version,
        "models": manifest.model_versions(),
        "offers": count,
        "batch_size": batch_size,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "inference_threads": settings.inference_threads,
        "text_encoder": _rate(count, timings["text"]),
        "image_encoder": _rate(count, image_total),
        "image_load_decode": _rate(count, timings["image_load"]),
        "image_inference": _rate(count, timings["image_infer"]),
        "fusion": _rate(count, timings["fusion"]),
    }
