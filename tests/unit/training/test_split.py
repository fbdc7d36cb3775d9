"""Grouping never empties a split; an empty or tiny split is an error before any training."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.unit.training.catalog import jpeg, write_catalog
from training.data import load_catalog
from training.split import SplitError, grouped_folds, grouped_stratified_split, make_split


def photo_only_catalog(root: Path, n: int = 80) -> Path:
    """Every offer titled "article", no description, a distinct photo per offer."""
    rng = np.random.default_rng(0)
    images = root / "images" / "image_train"
    images.mkdir(parents=True)
    codes = [10, 40, 1300, 2583]
    with (
        (root / "X_train_update.csv").open("w", newline="") as x,
        (root / "Y_train_CVw08PX.csv").open("w", newline="") as y,
    ):
        xw, yw = csv.writer(x), csv.writer(y)
        xw.writerow(["", "designation", "description", "productid", "imageid"])
        yw.writerow(["", "prdtypecode"])
        for i in range(n):
            xw.writerow([i, "article", "", 1000 + i, 5000 + i])
            yw.writerow([i, codes[i % 4]])
            color = (60 * (i % 4), 50, 200 - 40 * (i % 4))
            (images / f"image_{5000 + i}_product_{1000 + i}.jpg").write_bytes(jpeg(color, rng, 32))
    return root


def test_a_title_shared_across_classes_does_not_empty_the_split(tmp_path: Path) -> None:
    catalog = load_catalog(photo_only_catalog(tmp_path / "photo"))
    for group_by in ("text", "photo"):
        split = make_split(catalog, seed=1, test_fraction=0.15, folds=3, group_by=group_by)  # type: ignore[arg-type]
        labels = np.array(catalog.labels)
        assert len(split.test) >= 8 and set(labels[split.test]) == {10, 40, 1300, 2583}
        assert np.bincount(split.folds).min() > 0


def test_duplicate_titles_stay_together_but_a_huge_group_is_dissolved() -> None:
    texts = [f"offer {i % 20}" for i in range(60)] + ["article"] * 40
    labels = [i % 20 % 4 for i in range(60)] + [0] * 40
    keep, held = grouped_stratified_split(labels, texts, 0.25, seed=1)
    small = {texts[i] for i in held if texts[i] != "article"}
    assert not small & {texts[i] for i in keep}  # duplicates never straddle the split
    assert any(texts[i] == "article" for i in held) and any(texts[i] == "article" for i in keep)


def test_folds_keep_duplicates_together_and_are_balanced() -> None:
    texts = [f"offer {i % 30}" for i in range(90)]
    labels = [i % 30 % 3 for i in range(90)]
    folds = grouped_folds(labels, texts, 3, seed=0)
    for text in set(texts):
        assert len({int(folds[i]) for i in range(90) if texts[i] == text}) == 1
    assert np.bincount(folds).tolist() == [30, 30, 30]


def test_a_tiny_split_is_an_error_before_training(tmp_path: Path) -> None:
    catalog = load_catalog(write_catalog(tmp_path / "d", n=12))
    # Each class is one listing repeated four times: one group per class, nothing to hold out.
    catalog.texts = ["livre poche"] * 4 + ["console jeu"] * 4 + ["drone vol"] * 4
    catalog.labels = [10] * 4 + [40] * 4 + [1300] * 4
    with pytest.raises(SplitError, match="held-out split"):
        make_split(catalog, seed=1, test_fraction=0.15, folds=3)
    catalog.labels = [10] * 12
    with pytest.raises(SplitError, match="two or more"):
        make_split(catalog)
