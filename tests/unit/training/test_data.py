"""Catalog loading and the reproducible held-out split (training.split)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.unit.training.catalog import write_catalog
from training.data import load_catalog, rebalance
from training.split import grouped_stratified_split, load_test_rows, make_split


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    return write_catalog(tmp_path / "data", n=64)


def test_load_cleans_text_and_finds_images(catalog_dir: Path) -> None:
    catalog = load_catalog(catalog_dir)
    assert len(catalog) == 64
    assert catalog.labels is not None and catalog.codes() == [10, 40, 1300, 2583]
    # HTML removed and entities decoded by shared.ml.text.clean_offer_text.
    assert "<p>" not in catalog.texts[1] and catalog.texts[1].endswith(" . Très bon état & jeu")
    assert catalog.texts[9] == ""
    assert catalog.image_paths[5] is None  # missing photo
    assert catalog.image_paths[6] is not None  # corrupt: found, rejected when decoded
    assert catalog.stats == {"offers": 64, "empty_text": 1, "missing_image": 1, "duplicate_text": 1}
    assert catalog.product_ids[0] == "1000" and catalog.image_ids[0] == "5000"


def test_inference_only_data_has_no_labels(tmp_path: Path) -> None:
    catalog = load_catalog(write_catalog(tmp_path / "d", n=16, labels=False))
    assert catalog.labels is None
    with pytest.raises(ValueError, match="cannot be used for training"):
        catalog.codes()
    with pytest.raises(FileNotFoundError, match="labels are needed"):
        load_catalog(tmp_path / "d", require_labels=True)


def test_wrong_layout_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="catalog synth"):
        load_catalog(tmp_path)


def test_split_is_reproducible_disjoint_and_stratified(catalog_dir: Path) -> None:
    catalog = load_catalog(catalog_dir)
    first, again = make_split(catalog, seed=3), make_split(catalog, seed=3)
    other = make_split(catalog, seed=4)
    for a, b in ((first.train, again.train), (first.folds, again.folds), (first.test, again.test)):
        assert np.array_equal(a, b)
    assert not np.array_equal(first.test, other.test)
    parts = [set(first.train.tolist()), set(first.test.tolist())]
    assert sum(len(p) for p in parts) == 64 and len(set.union(*parts)) == 64
    assert len(first.folds) == len(first.train) and set(first.folds.tolist()) == set(range(5))
    labels = np.array(catalog.labels)
    for code in catalog.codes():  # every class is on every side
        assert (labels[first.test] == code).any() and (labels[first.train] == code).any()


def test_identical_texts_stay_on_one_side() -> None:
    texts = [f"offer {i % 20}" for i in range(60)]
    labels = [i % 20 % 4 for i in range(60)]
    keep, held = grouped_stratified_split(labels, texts, 0.25, seed=1)
    held_texts = {texts[i] for i in held}
    assert not held_texts & {texts[i] for i in keep}
    assert len(held) == 12  # round(5 groups x 0.25) = 1 group of 3 rows per class


def test_saved_split_is_reloaded_only_for_the_same_data(catalog_dir: Path, tmp_path: Path) -> None:
    catalog = load_catalog(catalog_dir)
    split = make_split(catalog, seed=1)
    split.save(tmp_path / "split.json", catalog)
    rows = load_test_rows(tmp_path / "split.json", catalog)
    assert rows is not None and np.array_equal(rows, split.test)
    other = load_catalog(write_catalog(tmp_path / "other", n=40, seed=9))
    assert load_test_rows(tmp_path / "split.json", other) is None


def test_rebalance_oversamples_small_and_caps_large() -> None:
    labels = [0] * 100 + [1] * 20 + [2] * 2
    out = rebalance(np.arange(len(labels)), labels, seed=0)
    counts = np.bincount(np.array(labels)[out])
    assert counts[0] == 40 and counts[1] == 20 and counts[2] == 10
