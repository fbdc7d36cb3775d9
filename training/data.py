"""Reading a catalog in the challenge layout (docs/architecture.md §8) and splitting it reproducibly.

Robust by design: empty descriptions, HTML and entities are cleaned by the same function the
language worker uses (shared.ml.text.clean_offer_text); a missing image is recorded as such (a
corrupt one is found when decoded). Splitting lives in training.split.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shared.ml.text import clean_offer_text

log = logging.getLogger(__name__)

X_FILE = "X_train_update.csv"
Y_FILE = "Y_train_CVw08PX.csv"
IMAGE_DIRS = ("images/image_train", "images/image_test")


@dataclass
class Catalog:
    """Offers in file order; ``labels`` is None for inference-only data."""

    data_dir: Path
    row_ids: list[str]
    product_ids: list[str]
    image_ids: list[str]
    texts: list[str]
    image_paths: list[Path | None]
    labels: list[int] | None
    fingerprint: str
    stats: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def codes(self) -> list[int]:
        """Sorted distinct product-type codes: the label set, in logit order."""
        if self.labels is None:
            raise ValueError(f"{self.data_dir} has no {Y_FILE}: it cannot be used for training.")
        return sorted(set(self.labels))


def _id(value: object) -> str:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()
    return text[:-2] if text.endswith(".0") and text[:-2].isdigit() else text


def _image_path(data_dir: Path, image_id: str, product_id: str) -> Path | None:
    name = f"image_{image_id}_product_{product_id}.jpg"
    for folder in IMAGE_DIRS:
        path = data_dir / folder / name
        if path.is_file():
            return path
    return None


def fingerprint_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def load_catalog(data_dir: Path, max_chars: int = 5000, require_labels: bool = False) -> Catalog:
    """The offers of ``data_dir``; a clear error when the layout is not the challenge's."""
    data_dir = Path(data_dir)
    x_path, y_path = data_dir / X_FILE, data_dir / Y_FILE
    if not x_path.is_file():
        raise FileNotFoundError(
            f"No {X_FILE} in {data_dir}. Expected the challenge layout: {X_FILE}, {Y_FILE}, "
            "images/image_train/. Generate one with `catalog synth --out DIR`."
        )
    frame = pd.read_csv(x_path, index_col=0, dtype=str, keep_default_na=False)
    for column in ("designation", "description", "productid", "imageid"):
        if column not in frame.columns:
            raise ValueError(f"{x_path} has no column {column!r} (has {list(frame.columns)}).")
    labels: list[int] | None = None
    if y_path.is_file():
        y = pd.read_csv(y_path, index_col=0, dtype=str, keep_default_na=False)
        if "prdtypecode" not in y.columns:
            raise ValueError(f"{y_path} has no column 'prdtypecode'.")
        y.index = y.index.map(str)
        frame.index = frame.index.map(str)
        codes = y["prdtypecode"].reindex(frame.index)
        if codes.isna().any():
            raise ValueError(f"{int(codes.isna().sum())} offers of {x_path} have no label in {y_path}.")
        labels = [int(float(code)) for code in codes]
    elif require_labels:
        raise FileNotFoundError(f"No {Y_FILE} in {data_dir}: labels are needed to train or evaluate.")
    product_ids = [_id(v) for v in frame["productid"]]
    image_ids = [_id(v) for v in frame["imageid"]]
    pairs = zip(frame["designation"], frame["description"], strict=True)
    texts = [clean_offer_text(title, description, max_chars).text for title, description in pairs]
    images = [_image_path(data_dir, i, p) for i, p in zip(image_ids, product_ids, strict=True)]
    stats = {
        "offers": len(texts),
        "empty_text": sum(1 for t in texts if not t),
        "missing_image": sum(1 for p in images if p is None),
        "duplicate_text": len(texts) - len({t.casefold() for t in texts}),
    }
    log.info("catalog loaded", extra={"data_dir": str(data_dir), **stats})
    return Catalog(
        data_dir=data_dir,
        row_ids=[str(i) for i in frame.index],
        product_ids=product_ids,
        image_ids=image_ids,
        texts=texts,
        image_paths=images,
        labels=labels,
        fingerprint=fingerprint_files([x_path, y_path]),
        stats=stats,
    )


def rebalance(
    indices: np.ndarray, labels: list[int], seed: int, floor: float = 0.5, cap: float = 2.0
) -> np.ndarray:
    """Oversample classes below ``floor`` x median count, subsample those above ``cap`` x median."""
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for index in indices:
        by_class.setdefault(labels[int(index)], []).append(int(index))
    median = float(np.median([len(v) for v in by_class.values()]))
    low, high = max(1, int(floor * median)), max(1, int(cap * median))
    out: list[int] = []
    for code in sorted(by_class):
        rows = np.array(by_class[code])
        if len(rows) > high:
            rows = rng.choice(rows, size=high, replace=False)
        elif len(rows) < low:
            rows = np.concatenate([rows, rng.choice(rows, size=low - len(rows), replace=True)])
        out.extend(int(r) for r in rows)
    return np.array(sorted(out), dtype=np.int64)
