"""``catalog bench explain``: explanation time per offer, and attribution checks on the served models.

Three runs, all through :class:`OnlineExplainer` on the configured backend and repository:

- ``timing``: real offers (title + description + photo) of a catalog, one explanation each;
- ``words``: titles made of generic filler words (the synthetic catalog's class-neutral noise)
  plus one category noun, text only: the noun decides by construction; is it ranked first?
- ``photo``: one catalog photo of a category pasted over 2x2 cells of a white canvas (grid 5):
  is the top heat-map cell one of those four (chance: 16%)?
"""

from __future__ import annotations

import io
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from services.cli.explaining import OnlineExplainer
from shared.config import Settings


def _stats(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "mean_s": round(statistics.fmean(ordered), 3),
        "p50_s": round(statistics.median(ordered), 3),
        "p90_s": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 3),
        "max_s": round(ordered[-1], 3),
    }


def _fillers() -> list[str]:
    from training.synth.lexicon import GENERIC

    return [w for w in GENERIC["fr"].split("|") if " " not in w]


def _nouns() -> dict[int, list[str]]:
    from training.synth.words import CATEGORY_WORDS

    return {
        code: [w.lower() for w in langs["fr"][0].split("|") if " " not in w and "-" not in w]
        for code, langs in CATEGORY_WORDS.items()
    }


async def _timing(explainer: OnlineExplainer, catalog: Any, n: int) -> dict[str, Any]:
    rows = [i for i, path in enumerate(catalog.image_paths) if path is not None][: n + 1]
    seconds, cpu, requests, words = [], [], [], []
    for k, i in enumerate(rows):
        started, cpu_started = time.perf_counter(), time.process_time()
        # title + description as one text (the catalog loader joins them), given as the description
        result = await explainer.explain(None, catalog.texts[i], catalog.image_paths[i].read_bytes())
        if k == 0:
            continue  # warm-up: sessions and tokenizers load
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)  # every thread of this process (ONNX Runtime's)
        requests.append(result.inference_requests)
        words.append(len(result.words))
    return {
        "offers": len(seconds),
        **_stats(seconds),
        "under_2s": sum(s < 2.0 for s in seconds),
        # CPU time does not grow with other processes' load: cpu_s / cores bounds the idle wall time.
        "cpu_s": _stats(cpu),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "requests_per_offer": round(statistics.fmean(requests), 2),
        "words_per_offer": round(statistics.fmean(words), 1),
    }


async def _words(explainer: OnlineExplainer, n: int, seed: int) -> dict[str, Any]:
    r = random.Random(seed)
    fillers, nouns = _fillers(), _nouns()
    codes = sorted(c for c in nouns if nouns[c])
    hits = correct = 0
    misses: list[dict[str, Any]] = []
    for _ in range(n):
        code = r.choice(codes)
        noun = r.choice(nouns[code])
        title = r.sample(fillers, r.randint(2, 4))
        title.insert(r.randint(0, len(title)), noun)
        result = await explainer.explain(" ".join(title), None, None)
        top = result.words_for[0].word if result.words_for else None
        hits += top == noun
        correct += result.prdtypecode == code
        if top != noun and len(misses) < 5:
            misses.append({"title": " ".join(title), "deciding": noun, "ranked_first": top})
    return {
        "offers": n,
        "rate": round(hits / n, 3),
        "category_correct": round(correct / n, 3),
        "misses": misses,
    }


async def _photo(explainer: OnlineExplainer, catalog: Any, n: int, seed: int) -> dict[str, Any]:
    r = random.Random(seed)
    grid, side = explainer.options.grid, 320
    cell = side // grid
    rows = [i for i, path in enumerate(catalog.image_paths) if path is not None]
    hits = correct = 0
    for i in r.sample(rows, min(n, len(rows))):
        canvas = Image.new("RGB", (side, side), (235, 235, 235))
        product = Image.open(catalog.image_paths[i]).convert("RGB").resize((2 * cell, 2 * cell))
        top, left = r.randrange(grid - 1), r.randrange(grid - 1)
        canvas.paste(product, (left * cell, top * cell))
        buffer = io.BytesIO()
        canvas.save(buffer, "PNG")
        result = await explainer.explain(None, None, buffer.getvalue())
        assert result.heatmap is not None
        flat = [v for row in result.heatmap.weights for v in row]
        best = max(range(len(flat)), key=flat.__getitem__)
        hits += best // grid in (top, top + 1) and best % grid in (left, left + 1)
        correct += catalog.labels is not None and result.prdtypecode == catalog.labels[i]
    total = min(n, len(rows))
    return {"offers": total, "rate": round(hits / total, 3), "chance": round(4 / grid**2, 3),
            "category_correct": round(correct / total, 3)}  # fmt: skip


async def run_bench(settings: Settings, data: Path | None, n: int) -> dict[str, Any]:
    """The three runs on ``data`` (a synthetic catalog generated on the spot when None)."""
    if data is not None:
        return await _bench(settings, data, n)
    from training.synth import generate_catalog

    with tempfile.TemporaryDirectory(prefix="bench-explain-") as folder:
        generate_catalog(Path(folder), max(n + 1, 60), 5)
        return await _bench(settings, Path(folder), n)


async def _bench(settings: Settings, data: Path, n: int) -> dict[str, Any]:
    from training.data import load_catalog

    catalog = load_catalog(data)
    explainer = OnlineExplainer(settings)
    try:
        manifest = await explainer.store.current()
        timing = await _timing(explainer, catalog, n)
        words = await _words(explainer, n, seed=11)
        photo = await _photo(explainer, catalog, n, seed=13)
    finally:
        await explainer.close()
    return {
        "benchmark": "explain",
        "backend": settings.inference_backend,
        "model_version": manifest.version,
        "models": [m.name for m in manifest.text_models + manifest.image_models],
        "grid": explainer.options.grid,
        "max_words": explainer.options.max_words,
        "batch_size": explainer.options.batch_size,
        "timing": timing,
        "deciding_word_first": words,
        "deciding_photo_region_first": photo,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
