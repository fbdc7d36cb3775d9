"""``python -m tools.photo_levers DATA WORK OUT.jsonl '{"image_epochs": 3}' [--rows N]``.

Trains the image model of ``catalog train``'s refit (non-test rows, a validation slice for early
stopping) with ``Profile`` overrides, scores the held-out rows and appends one JSON line: weighted
F1, training wall and CPU seconds, peak RSS, load average. One process per variant (RSS)."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score

from shared.ml.model_repo import ImageModelSpec
from training.data import load_catalog
from training.image_data import build_pixel_store
from training.image_model import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_image_model,
    store_logits,
    train_image_model,
)
from training.oof import Inner
from training.profiles import get_profile
from training.split import group_keys, make_split


def main(argv: list[str]) -> None:
    data, work, out, overrides = Path(argv[0]), Path(argv[1]), Path(argv[2]), json.loads(argv[3])
    limit = int(argv[argv.index("--rows") + 1]) if "--rows" in argv else None
    for key, value in overrides.items():
        if isinstance(value, list):
            overrides[key] = tuple(value)
    profile = replace(get_profile("default"), **overrides)
    catalog = load_catalog(data, profile.max_chars, require_labels=True)
    codes = catalog.codes()
    index = {c: i for i, c in enumerate(codes)}
    y = np.array([index[c] for c in catalog.labels or []], dtype=np.int64)
    split = make_split(catalog, profile.seed, profile.test_fraction, profile.oof_folds, "text")
    spec = ImageModelSpec(
        name="image",
        base="efficientnet_lite0",
        triton_version=1,
        image_size=profile.image_size,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    )
    pixels, valid = build_pixel_store(
        catalog.image_paths, spec, 40_000_000, work / f"images_{profile.image_size}", 2, profile.image_size
    )
    rows = split.train[valid[split.train]]
    if limit is not None:
        rows = np.sort(np.random.default_rng(0).permutation(rows)[:limit])
    test = split.test[valid[split.test]]
    inner = Inner(list(y), group_keys(catalog, "text"), profile.val_fraction, profile.seed)
    fit_rows, val_rows = inner.split(rows)
    torch.manual_seed(profile.seed)
    model, _, _ = build_image_model("efficientnet_lite0", len(codes))
    tag = hex(abs(hash(json.dumps(overrides, sort_keys=True))))[2:10]
    checkpoint = work / f"run-{tag}-{os.getpid()}" / "checkpoint.pt"
    load = os.getloadavg()
    wall, cpu = time.monotonic(), time.process_time()
    result = train_image_model(
        model, pixels, fit_rows, y[fit_rows], profile, checkpoint, "image", val_rows, y[val_rows]
    )
    train_wall, train_cpu = time.monotonic() - wall, time.process_time() - cpu
    predicted = store_logits(model, pixels, test).argmax(1)
    f1 = f1_score(y[test], predicted, average="weighted")
    record = {
        "overrides": overrides,
        "rows": len(fit_rows),
        "test_rows": len(test),
        "weighted_f1": round(float(f1), 4),
        "train_wall_s": round(train_wall, 1),
        "train_cpu_s": round(train_cpu, 1),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "load_before": [round(v, 2) for v in load],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "fit": result.as_dict(),
        "threads": torch.get_num_threads(),
    }
    with out.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1:])
