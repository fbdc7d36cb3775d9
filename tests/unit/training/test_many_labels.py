"""Hundreds to thousands of classes: text tables sized for the label count, the class-shared
combiner fusion served with top-k, and F1 per taxonomy level with the errors placed in the tree."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from shared.ml.fusion import FusionModel
from shared.ml.model_repo import LabelSpec, Manifest
from shared.taxonomy.model import Node, Taxonomy
from training.fusion_train import train_fusion
from training.hierarchy_report import hierarchy_metrics
from training.profiles import get_profile, sized_for_labels


def test_tables_shrink_with_the_label_count_and_stay_at_27() -> None:
    default = get_profile("default")
    assert sized_for_labels(default, 27) == default  # 2^20 x 27 x 4 B = 113 MB: within budget
    big = sized_for_labels(default, 1000)
    assert big.subword_buckets * 1000 * 4 <= default.label_table_bytes < big.subword_buckets * 2 * 1000 * 4
    assert big.subword_word_buckets * 4 == big.subword_buckets  # the word/char split keeps its share
    assert big.bow_buckets * 1000 * 4 <= default.label_table_bytes
    assert sized_for_labels(default, 300).subword_buckets > big.subword_buckets


def test_combiner_fusion_at_a_thousand_labels_serves_top_k(tmp_path: Path) -> None:
    n_labels, rng = 1000, np.random.default_rng(0)
    labels = rng.integers(0, n_labels, size=400)

    def logits(y: np.ndarray, noise: float) -> np.ndarray:
        out = rng.normal(0, noise, size=(len(y), n_labels)).astype(np.float32)
        out[np.arange(len(y)), y] += 6.0
        return out

    profile = get_profile("tiny")  # two fusion folds: the fewest fits
    assert n_labels > profile.fusion_lgbm_max_labels
    spec = train_fusion(
        {"text_a": logits(labels, 1.0), "image_b": logits(labels, 3.0)}, np.ones(400, bool),
        np.ones(400, bool), labels, ["text_a"], ["image_b"], n_labels, profile,
        tmp_path / "fusion" / "1", "fusion/1",
    )  # fmt: skip
    assert sorted(spec.files) == ["combiner_full", "combiner_image", "combiner_text"]
    assert spec.params["meta_model"] == "combiner"
    blends = spec.params["blend"]
    assert isinstance(blends, dict)
    assert {blends[path]["meta"] for path in ("image", "text")} == {"combiner"}  # single-model paths
    manifest = Manifest(
        version="r1", revision=1, created_at=datetime.now(UTC), fusion=spec,
        labels=[LabelSpec(prdtypecode=100_000 + c, name=str(c)) for c in range(n_labels)],
    )  # fmt: skip
    model = FusionModel.load(tmp_path, manifest)
    test = rng.integers(0, n_labels, size=200)
    probs = model.predict_proba({"text_a": logits(test, 1.0)}, {"image_b": logits(test, 3.0)})
    assert probs.shape == (200, n_labels) and np.allclose(probs.sum(1), 1.0)
    top3 = np.argsort(-probs, axis=1)[:, :3]
    assert (top3 == test[:, None]).any(1).mean() > 0.95  # the true leaf is in the top 3
    text_only = model.predict_proba({"text_a": logits(test, 1.0)}, None)
    assert (text_only.argmax(1) == test).mean() > 0.9


def test_level_scores_and_where_errors_fall() -> None:
    # departments 1, 2; categories 11, 12 (under 1), 21 (under 2); leaves 111, 112, 121, 211
    tree = Taxonomy.build([
        Node(1, "A"), Node(2, "B"), Node(11, "A1", 1), Node(12, "A2", 1), Node(21, "B1", 2),
        Node(111, "x", 11), Node(112, "y", 11), Node(121, "z", 12), Node(211, "w", 21),
    ])  # fmt: skip
    codes = [111, 112, 121, 211]
    truth = np.array([0, 0, 0, 0, 1, 2, 3, 3])
    pred = np.array([0, 1, 2, 3, 1, 2, 3, 3])  # one sibling, one cousin, one other-department error
    report = hierarchy_metrics(tree, codes, truth, pred)
    levels = report["levels"]
    assert [levels[k]["accuracy"] for k in ("department", "category", "leaf")] == [0.875, 0.75, 0.625]
    assert [levels[k]["classes"] for k in ("department", "category", "leaf")] == [2, 3, 4]
    errors = report["errors"]
    assert errors["count"] == 3
    assert [errors[k]["count"] for k in ("sibling", "same_department", "other_department")] == [1, 1, 1]
