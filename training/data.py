"""Reading a catalog in the challenge layout (docs/architecture.md §8) and splitting it reproducibly.

Robust by design: empty descriptions, HTML and entities are cleaned by the same function the
language worker uses (shared.text.clean_offer_text); a missing image is recorded as such (a
corrupt one is found when decoded); identical texts stay on one side of every split, so a
duplicated offer cannot leak from training into evaluation.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shared.text import clean_offer_text

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


def grouped_stratified_split(
    labels: list[int], texts: list[str], fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held_out) row indices: ``fraction`` of each class held out, identical texts together.

    Groups are the casefolded texts (empty texts are each their own group); a group's class is
    that of its first row. A class with a single group stays on the keep side.
    """
    groups: dict[str, list[int]] = {}
    for index, text in enumerate(texts):
        key = text.casefold() if text else f"\0{index}"
        groups.setdefault(key, []).append(index)
    by_class: dict[int, list[list[int]]] = {}
    for members in groups.values():
        by_class.setdefault(labels[members[0]], []).append(members)
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for code in sorted(by_class):
        class_groups = by_class[code]
        order = rng.permutation(len(class_groups))
        n_held = round(len(class_groups) * fraction) if len(class_groups) > 1 else 0
        if len(class_groups) > 1:
            n_held = min(max(n_held, 1), len(class_groups) - 1)
        for position in order[:n_held]:
            held.extend(class_groups[position])
    held_set = set(held)
    keep = np.array([i for i in range(len(labels)) if i not in held_set], dtype=np.int64)
    return keep, np.array(sorted(held_set), dtype=np.int64)


@dataclass
class Split:
    """Row indices: base models train on ``base``, fusion on ``fusion``, evaluation uses ``test``."""

    base: np.ndarray
    fusion: np.ndarray
    test: np.ndarray
    seed: int
    test_fraction: float
    fusion_fraction: float

    def to_json(self, catalog: Catalog) -> dict[str, object]:
        return {
            "seed": self.seed,
            "test_fraction": self.test_fraction,
            "fusion_fraction": self.fusion_fraction,
            "fingerprint": catalog.fingerprint,
            "base": [catalog.row_ids[i] for i in self.base],
            "fusion": [catalog.row_ids[i] for i in self.fusion],
            "test": [catalog.row_ids[i] for i in self.test],
        }

    def save(self, path: Path, catalog: Catalog) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(catalog)), "utf-8")


def make_split(
    catalog: Catalog, seed: int = 42, test_fraction: float = 0.15, fusion_fraction: float = 0.25
) -> Split:
    """The fixed held-out split (``test_fraction``), then the fusion slice out of the rest."""
    labels = catalog.labels
    if labels is None:
        raise ValueError("Cannot split a catalog without labels.")
    keep, test = grouped_stratified_split(labels, catalog.texts, test_fraction, seed)
    sub_labels = [labels[i] for i in keep]
    sub_texts = [catalog.texts[i] for i in keep]
    base_pos, fusion_pos = grouped_stratified_split(sub_labels, sub_texts, fusion_fraction, seed + 1)
    return Split(keep[base_pos], keep[fusion_pos], test, seed, test_fraction, fusion_fraction)


def load_test_rows(split_file: Path, catalog: Catalog) -> np.ndarray | None:
    """Indices of the saved held-out rows when ``catalog`` is the data the split was made on."""
    if not split_file.is_file():
        return None
    saved = json.loads(split_file.read_text("utf-8"))
    if saved.get("fingerprint") != catalog.fingerprint:
        return None
    position = {row: i for i, row in enumerate(catalog.row_ids)}
    return np.array([position[row] for row in saved["test"] if row in position], dtype=np.int64)


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
