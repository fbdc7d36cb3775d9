"""The full-size catalog of ``catalog bench fullsize``: the real class counts, 500x500 photos.

``catalog synth --n 84916`` draws every photo (about 15 ms of CPU each: 22 CPU-minutes, and far
more on a shared machine), so the bench can instead *tile* a smaller synthetic catalog up to the
real counts of ``shared/categories.json``: each class's offers are repeated in turn under new
product and image ids, the rows shuffled, each photo a hard link to the drawn one (no disk, no
time). The pipeline's cost per offer does not depend on whether two photos have the same pixels
(no stage caches by content: the translator is off), so throughput and memory are the full
catalog's; the manifest says how many distinct offers there are.

Written row by row (the CSVs and the links), so memory does not grow with the size.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from shared.categories import reference_categories

X_NAME, Y_NAME = "X_train_update.csv", "Y_train_CVw08PX.csv"
IMAGES = Path("images") / "image_train"
MANIFEST = "tiled_manifest.json"
PRODUCT_BASE, IMAGE_BASE = 4_200_000_000, 1_500_000_000
"""New ids start above the synthesizer's ranges, so a tiled offer never collides with a drawn one."""


def real_counts(n: int | None = None) -> dict[int, int]:
    """Rows per class: the challenge's own (84,916), or ``n`` split in the same shares."""
    cats = reference_categories()
    counts = {c.prdtypecode: c.train_count for c in cats}
    if n is None or n == sum(counts.values()):
        return counts
    total = sum(counts.values())
    scaled = {code: n * k // total for code, k in counts.items()}
    by_remainder = sorted(counts, key=lambda code: (n * counts[code]) % total, reverse=True)
    for code in by_remainder[: n - sum(scaled.values())]:
        scaled[code] += 1
    return scaled


def _read_base(base: Path) -> dict[int, list[list[str]]]:
    """The base catalog's rows (designation, description, productid, imageid) by label."""
    with (base / Y_NAME).open(newline="", encoding="utf-8") as handle:
        labels = {row[0]: int(row[1]) for row in list(csv.reader(handle))[1:]}
    rows: dict[int, list[list[str]]] = {}
    with (base / X_NAME).open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for index, title, description, product, image in reader:
            rows.setdefault(labels[index], []).append([title, description, product, image])
    return rows


def _photo(root: Path, image: str, product: str) -> Path:
    return root / IMAGES / f"image_{image}_product_{product}.jpg"


def _link(source: Path, target: Path) -> bool:
    if not source.exists():
        return False  # the base offer has no photo (the synthesizer's missing ones)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return True


def _size(photo: Path) -> list[int]:
    from PIL import Image

    with Image.open(photo) as img:
        return list(img.size)


def tile_catalog(base: Path, out: Path, n: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Write ``out`` with the real class counts (``n`` offers in their shares when given) from
    the offers of ``base``; its manifest (also written to ``out``)."""
    counts = real_counts(n)
    by_class = _read_base(base)
    missing = [code for code, k in counts.items() if k and not by_class.get(code)]
    if missing:
        raise ValueError(f"{base} has no offer of class(es) {missing}: synthesize a larger base")
    order = [code for code, k in counts.items() for _ in range(k)]
    random.Random(seed).shuffle(order)
    if out.exists():
        shutil.rmtree(out)
    (out / IMAGES).mkdir(parents=True)
    taken: Counter[int] = Counter()
    photos = 0
    with (
        (out / X_NAME).open("w", newline="", encoding="utf-8") as x_file,
        (out / Y_NAME).open("w", newline="", encoding="utf-8") as y_file,
    ):
        x, y = csv.writer(x_file, lineterminator="\n"), csv.writer(y_file, lineterminator="\n")
        x.writerow(["", "designation", "description", "productid", "imageid"])
        y.writerow(["", "prdtypecode"])
        for i, code in enumerate(order):
            pool = by_class[code]
            title, description, product, image = pool[taken[code] % len(pool)]
            taken[code] += 1
            new_product, new_image = str(PRODUCT_BASE + i), str(IMAGE_BASE + i)
            x.writerow([i, title, description, new_product, new_image])
            y.writerow([i, code])
            photos += _link(_photo(base, image, product), _photo(out, new_image, new_product))
    first = next((out / IMAGES).iterdir(), None)
    manifest = {
        "base": str(base.resolve()),
        "photo_size": _size(first) if first else None,
        "seed": seed,
        "offers": len(order),
        "distinct_offers": sum(min(len(by_class.get(c, [])), k) for c, k in counts.items()),
        "photos": photos,
        "class_counts": dict(sorted(counts.items())),
        "class_counts_are_the_challenges": counts == real_counts(),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1), "utf-8")
    return manifest
