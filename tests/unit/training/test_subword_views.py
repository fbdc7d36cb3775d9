"""Other views of an offer for the text stack (training.subword_model.SUBWORD_VIEWS): the same
featurizer as ``subword`` with another spec - the title alone, character n-grams alone - and a
linear stack over the views' scores that the text path serves where it scores better out of fold.

Why: on real text the text path stacked one classical view and tied TF-IDF + LinearSVC; several
views of the same offer, pooled with weights chosen by cross-validation, are what
measured above it (docs/benchmarks/training.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from shared.ml.fusion import FusionModel, pool_forward
from shared.ml.model_repo import LabelSpec, Manifest
from shared.ml.subword import SubwordSpec, text_ids
from shared.ml.text import merge_title_description
from training import subword_model
from training.fusion_pool import choose_pool, simplex
from training.fusion_train import train_fusion
from training.profiles import PROFILES, get_profile


def test_the_title_view_reads_the_title_of_the_merged_text() -> None:
    title = SubwordSpec(buckets=2**14, word_buckets=2**12, view="title", counts=True)
    merged = merge_title_description("Poupée en bois", "<p>Jouet pour enfant, livré en boîte.</p>")
    assert text_ids(merged, title) == text_ids("Poupée en bois", title)
    assert text_ids("Sans description", title) == text_ids(
        "Sans description", title.model_copy(update={"view": "offer"})
    )
    offer = title.model_copy(update={"view": "offer"})
    assert set(text_ids("Poupée en bois", title)) < set(text_ids(merged, offer))


def test_the_character_view_has_no_word_ids() -> None:
    spec = SubwordSpec(buckets=2**14, word_buckets=2**12)
    chars = spec.model_copy(update={"words": False, "word_buckets": 1})
    ids = text_ids("robot jouet robot", chars)
    assert ids and min(ids) >= 1
    full = text_ids("robot jouet robot", spec)
    words = [i for i in full if i < spec.word_buckets]  # robot, jouet, robot, "robot jouet", "jouet robot"
    assert len(words) == 5 and len(ids) == len(full) - len(words)


def test_each_view_is_a_base_of_its_own_with_fewer_buckets() -> None:
    profile = PROFILES["default"]
    assert subword_model.model_name("subword") == "text_subword"
    for base in subword_model.SUBWORD_VIEWS:
        assert subword_model.is_subword(base) and subword_model.model_name(base) == f"text_{base}"
        spec = subword_model.subword_spec(profile, base)
        assert spec.buckets == 2**18 < subword_model.subword_spec(profile).buckets
        assert spec.max_features == profile.subword_max_features and spec.counts
    assert subword_model.subword_spec(profile, "subword_title").view == "title"
    tiny = PROFILES["tiny"]  # a profile with fewer buckets than the view keeps its own
    small = subword_model.subword_spec(tiny, "subword_title")
    assert (small.buckets, small.word_buckets) == (tiny.subword_buckets, tiny.subword_word_buckets)


def _view(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A noisy view of the label: the true class's logit raised, independent noise."""
    out = rng.normal(0, 1.5, size=(len(labels), 5))
    out[np.arange(len(labels)), labels] += 2.0
    return out.astype(np.float32)


def test_the_text_path_serves_the_pool_it_chose_out_of_fold(tmp_path: Path) -> None:
    """Two views with independent errors: a weighted geometric mean of both (the sum of their
    log-probabilities) is the natural stack; the path chose it by its out-of-fold score over
    LightGBM's, and FusionModel serves it."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=600)
    logits = {
        "text_a": _view(labels, rng),
        "text_b": _view(labels, rng),
    }
    spec = train_fusion(
        logits, np.ones(600, bool), np.zeros(600, bool), labels, ["text_a", "text_b"], [], 5,
        get_profile("tiny"), tmp_path / "fusion" / "1", "fusion/1",
    )  # fmt: skip
    blend = spec.params["blend"]["text"]
    scores = blend["cv_weighted_f1"]
    assert blend["meta"] == "pool" and scores["chosen"] == scores["pool"] > scores["meta"]
    assert 0.2 <= blend["pool"]["text_a"] <= 0.8 and sum(blend["pool"].values()) == pytest.approx(1.0)
    manifest = Manifest(
        version="r1", revision=1, created_at=datetime.now(UTC), fusion=spec,
        labels=[LabelSpec(prdtypecode=c, name=str(c)) for c in range(5)],
    )  # fmt: skip
    model = FusionModel.load(tmp_path, manifest)
    test_labels = rng.integers(0, 5, size=300)
    test = {
        "text_a": _view(test_labels, rng),
        "text_b": _view(test_labels, rng),
    }
    served = model.predict_proba(test, None, calibrated=False)
    np.testing.assert_allclose(served, pool_forward(blend["pool"], test), atol=1e-12)
    accuracy = (served.argmax(1) == test_labels).mean()
    assert accuracy > max((test[m].argmax(1) == test_labels).mean() for m in test) + 0.05


def test_pool_weights_cover_thesimplex() -> None:
    grid = simplex(3, 0.1)
    assert len(grid) == 66 and all(abs(sum(w) - 1) < 1e-9 and min(w) >= 0 for w in grid)
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, size=200)
    good = np.eye(5)[labels] * 5.0
    pool = choose_pool({"a": rng.normal(size=(200, 5)), "b": good}, ["a", "b"], labels)
    assert pool["cv_weighted_f1"] == 1.0 and pool["weights"]["b"] >= 0.5  # type: ignore[index]
