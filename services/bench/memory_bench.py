"""Peak RSS of the streamed image path at a given catalog size (``catalog bench train-memory``).

Why a focused benchmark: a full ``catalog train --profile default`` at 24,000 offers does not
finish on a loaded 2-core machine, yet the question (does memory grow with the catalog?) is
about the parts that used to hold every photo: the pixel cache, the training batches, the
out-of-fold / validation scoring and the fusion scoring. This runs exactly those functions
(training.image_data, training.image_model.store_logits, training.scoring.image_logits) over
``n`` photo paths and reports the peak RSS (``VmHWM``) after each phase. Paths cycle through a pool of
distinct JPEGs: decoding and memory per photo are those of distinct files.

    python -m services.bench.memory_bench --n 6000 --work /tmp/mb   (one JSON line on stdout)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from services.bench.stats import peak_rss_mb
from shared.ml.model_repo import ImageModelSpec
from training.image_data import batches_on, build_pixel_store, loader
from training.image_model import ImageClassifier, export_image_model, store_logits


def _rss_mib() -> float:
    return peak_rss_mb() or 0.0


def _photos(directory: Path, pool: int, side: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(pool):
        path = directory / f"{i}.jpg"
        if not path.is_file():
            base = rng.integers(0, 255, (side // 8, side // 8, 3), dtype=np.uint8)
            Image.fromarray(base).resize((side, side), Image.Resampling.BILINEAR).save(path, quality=90)
        paths.append(path)
    return paths


def run(n: int, work: Path, size: int, side: int, pool: int, labels: int = 27) -> dict[str, object]:
    started = time.monotonic()
    pool_paths = _photos(work / f"photos_{side}", pool, side)
    paths: list[Path | None] = [pool_paths[i % pool] for i in range(n)]
    spec = ImageModelSpec(
        name="image_bench", base="bench", triton_version=1, image_size=size, mean=[0.5] * 3, std=[0.5] * 3
    )
    phases: dict[str, float] = {"start": _rss_mib()}
    store, valid = build_pixel_store(
        paths, spec, 40_000_000, work / f"cache_{n}_{size}_{side}" / "images", workers=2
    )
    phases["pixel_cache"] = _rss_mib()
    rows = np.flatnonzero(valid)
    y = (rows % labels).astype(np.int64)
    seen = 0
    for (images,), _ in batches_on(loader(store, rows, y, 64, 0, 0, False), torch.device("cpu"), 0):
        seen += len(images)
    phases["training_batches"] = _rss_mib()
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.AvgPool2d(8), nn.Flatten(), nn.LazyLinear(labels))
    model = ImageClassifier(backbone, [0.5] * 3, [0.5] * 3)
    model(torch.zeros((1, size, size, 3), dtype=torch.uint8))
    logits = store_logits(model, store, rows)
    phases["oof_scoring"] = _rss_mib()
    repo = work / f"repo_{n}_{size}_{side}"
    export_image_model(model, repo / spec.name / "1", spec)
    from training.scoring import image_logits

    scored, has = image_logits(repo, [spec], paths, labels, 40_000_000)
    phases["fusion_scoring"] = _rss_mib()
    return {
        "offers": n,
        "image_size": size,
        "source_photo": f"{side}x{side} JPEG",
        "batches_seen": seen,
        "scored": int(has.sum()),
        "logits_match": bool(np.allclose(scored[spec.name][rows], logits, atol=1e-3)),
        "cache_file_mib": round(store.path.stat().st_size / 2**20, 1),
        "in_ram_design_mib": round(n * size * size * 3 / 2**20, 1),
        "peak_rss_mib_after": phases,
        "peak_rss_mib": max(phases.values()),
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--side", type=int, default=500, help="source photo side (the catalog's: 500)")
    parser.add_argument("--pool", type=int, default=256, help="distinct JPEGs the paths cycle through")
    args = parser.parse_args()
    print(json.dumps(run(args.n, args.work, args.size, args.side, args.pool)))


if __name__ == "__main__":
    main()
