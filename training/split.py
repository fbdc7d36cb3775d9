"""The held-out split and the cross-fitting folds, grouped so that duplicates never leak.

Why grouped: two listings of one product (identical text, or one photo for photo-only
training) on both sides of a split would let a model be evaluated on what it memorised.

Why grouping is bounded: a text shared by offers of *different* classes ("article" on
photo-only offers) or by very many offers is generic, not a duplicate; it determines no label
and cannot leak one. Such a group is split by class, and a group still larger than
``max_group`` is dissolved into single rows. Without this, one generic title swallowed a whole
catalog into one group, the held-out split came out empty and training crashed at the end.

A split that still comes out empty or tiny is an error raised here, before any training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from training.data import Catalog

GroupBy = Literal["text", "photo"]


class SplitError(ValueError):
    """The catalog cannot give a usable held-out split (raised before any training)."""


def group_keys(catalog: Catalog, by: GroupBy) -> list[str]:
    """Per row, what identifies a duplicate: the casefolded text, or the photo's image id.

    An empty key (no text, no image id) makes the row its own group.
    """
    if by == "photo":
        raw = [f"{i}" if catalog.image_paths[k] is not None else "" for k, i in enumerate(catalog.image_ids)]
    else:
        raw = [t.casefold() for t in catalog.texts]
    return [key if key else f"\0{index}" for index, key in enumerate(raw)]


def make_groups(labels: list[int], keys: list[str], max_group: int) -> list[list[int]]:
    """Row groups that each have one class and at most ``max_group`` rows."""
    by_key: dict[tuple[str, int], list[int]] = {}
    for index, key in enumerate(keys):
        by_key.setdefault((key, labels[index]), []).append(index)
    groups: list[list[int]] = []
    for members in by_key.values():
        if len(members) > max_group:
            groups.extend([m] for m in members)
        else:
            groups.append(members)
    return groups


def default_max_group(n_rows: int) -> int:
    """Larger than any plausible duplicate cluster, small against the catalog (1%, >= 5)."""
    return max(5, n_rows // 100)


def grouped_stratified_split(
    labels: list[int], keys: list[str], fraction: float, seed: int, max_group: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held_out) row indices: about ``fraction`` of each class's groups held out.

    A class with a single group stays on the keep side.
    """
    cap = default_max_group(len(labels)) if max_group is None else max_group
    by_class: dict[int, list[list[int]]] = {}
    for members in make_groups(labels, keys, cap):
        by_class.setdefault(labels[members[0]], []).append(members)
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for code in sorted(by_class):
        class_groups = by_class[code]
        if len(class_groups) < 2:
            continue
        order = rng.permutation(len(class_groups))
        n_held = min(max(round(len(class_groups) * fraction), 1), len(class_groups) - 1)
        for position in order[:n_held]:
            held.extend(class_groups[position])
    held_set = set(held)
    keep = np.array([i for i in range(len(labels)) if i not in held_set], dtype=np.int64)
    return keep, np.array(sorted(held_set), dtype=np.int64)


def grouped_folds(labels: list[int], keys: list[str], folds: int, seed: int) -> np.ndarray:
    """Fold number per row: groups dealt round-robin per class, so folds are stratified."""
    by_class: dict[int, list[list[int]]] = {}
    for members in make_groups(labels, keys, default_max_group(len(labels))):
        by_class.setdefault(labels[members[0]], []).append(members)
    rng = np.random.default_rng(seed)
    out = np.zeros(len(labels), dtype=np.int64)
    start = 0
    for code in sorted(by_class):
        class_groups = by_class[code]
        for k, position in enumerate(rng.permutation(len(class_groups))):
            out[class_groups[position]] = (start + k) % folds
        start += len(class_groups)  # the next class starts where this one stopped: balanced sizes
    return out


@dataclass
class Split:
    """Base models are cross-fitted on ``train`` (``folds`` gives each row's fold) and refit on
    all of it; the fusion trains on its out-of-fold logits; ``test`` is only evaluated."""

    train: np.ndarray
    test: np.ndarray
    folds: np.ndarray
    seed: int
    test_fraction: float
    group_by: GroupBy

    def to_json(self, catalog: Catalog) -> dict[str, object]:
        return {
            "seed": self.seed,
            "test_fraction": self.test_fraction,
            "group_by": self.group_by,
            "fingerprint": catalog.fingerprint,
            "train": [catalog.row_ids[i] for i in self.train],
            "folds": [int(f) for f in self.folds],
            "test": [catalog.row_ids[i] for i in self.test],
        }

    def save(self, path: Path, catalog: Catalog) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(catalog)), "utf-8")


def min_held_out(n_rows: int, fraction: float) -> int:
    """Fewer held-out rows than this means grouping ate the split: at least half the target."""
    return max(2, int(0.5 * fraction * n_rows))


def make_split(
    catalog: Catalog, seed: int = 42, test_fraction: float = 0.15, folds: int = 5, group_by: GroupBy = "text"
) -> Split:
    """The fixed held-out split, then cross-fitting folds over the rest; :class:`SplitError`
    when either is empty or tiny."""
    labels = catalog.labels
    if labels is None:
        raise SplitError("Cannot split a catalog without labels.")
    if len(set(labels)) < 2:
        raise SplitError(f"{catalog.data_dir} has {len(set(labels))} class: a classifier needs two or more.")
    keys = group_keys(catalog, group_by)
    keep, test = grouped_stratified_split(labels, keys, test_fraction, seed)
    needed = min_held_out(len(labels), test_fraction)
    if len(test) < needed:
        raise SplitError(
            f"The held-out split of {catalog.data_dir} has {len(test)} rows (needs >= {needed} of "
            f"{len(labels)}): too few distinct offers per class once duplicates ({group_by}) are "
            "grouped. Add offers, or train on another modality."
        )
    sub_keys = [keys[i] for i in keep]
    fold_of = grouped_folds([labels[i] for i in keep], sub_keys, folds, seed + 1)
    sizes = np.bincount(fold_of, minlength=folds)
    if folds < 2 or sizes.min() < 1:
        raise SplitError(
            f"Cannot cross-fit {folds} folds over {len(keep)} training rows (fold sizes "
            f"{sizes.tolist()}): add offers or lower the number of folds."
        )
    return Split(keep, test, fold_of, seed, test_fraction, group_by)


def load_test_rows(split_file: Path, catalog: Catalog) -> np.ndarray | None:
    """Indices of the saved held-out rows when ``catalog`` is the data the split was made on."""
    if not split_file.is_file():
        return None
    saved = json.loads(split_file.read_text("utf-8"))
    if saved.get("fingerprint") != catalog.fingerprint:
        return None
    position = {row: i for i, row in enumerate(catalog.row_ids)}
    return np.array([position[row] for row in saved["test"] if row in position], dtype=np.int64)
