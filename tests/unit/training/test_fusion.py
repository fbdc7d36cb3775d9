"""Fusion training (training.fusion_train) read back by shared.ml.fusion.FusionModel, no torch."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from shared.ml.fusion import FusionModel
from shared.ml.model_repo import LabelSpec, Manifest
from training.fusion_train import train_fusion
from training.profiles import get_profile

N_LABELS = 5


def _logits(labels: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    out = rng.normal(0, noise, size=(len(labels), N_LABELS))
    out[np.arange(len(labels)), labels] += 2.0
    return out.astype(np.float32)


@pytest.fixture(scope="module")
def fused(tmp_path_factory: pytest.TempPathFactory) -> tuple[FusionModel, dict[str, np.ndarray], np.ndarray]:
    tmp_path: Path = tmp_path_factory.mktemp("fusion")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, N_LABELS, size=300)
    logits = {"text_a": _logits(labels, 1.5, rng), "image_b": _logits(labels, 2.5, rng)}
    has_image = np.ones(300, dtype=bool)
    has_image[:20] = False
    spec = train_fusion(
        logits,
        np.ones(300, bool),
        has_image,
        labels,
        ["text_a"],
        ["image_b"],
        N_LABELS,
        get_profile("tiny"),
        tmp_path / "fusion" / "1",
        "fusion/1",
    )
    manifest = Manifest(
        version="r1",
        revision=1,
        created_at=datetime.now(UTC),
        labels=[LabelSpec(prdtypecode=c, name=str(c)) for c in range(N_LABELS)],
        fusion=spec,
    )
    model = FusionModel.load(tmp_path, manifest)
    test_labels = rng.integers(0, N_LABELS, size=200)
    test = {"text_a": _logits(test_labels, 1.5, rng), "image_b": _logits(test_labels, 2.5, rng)}
    return model, test, test_labels


def test_every_path_gives_probabilities(fused: tuple[FusionModel, dict[str, np.ndarray], np.ndarray]) -> None:
    model, logits, _ = fused
    assert sorted(model.available_paths) == ["full", "image", "text"]
    for text, image in (
        ({"text_a": logits["text_a"]}, {"image_b": logits["image_b"]}),
        ({"text_a": logits["text_a"]}, None),
        (None, {"image_b": logits["image_b"]}),
    ):
        probs = model.predict_proba(text, image)
        assert probs.shape == (200, N_LABELS)
        assert np.allclose(probs.sum(axis=1), 1.0) and (probs >= 0).all()


def test_fusion_beats_each_modality(fused: tuple[FusionModel, dict[str, np.ndarray], np.ndarray]) -> None:
    model, logits, labels = fused
    full = (
        model.predict_proba({"text_a": logits["text_a"]}, {"image_b": logits["image_b"]}).argmax(1) == labels
    ).mean()
    text = (model.predict_proba({"text_a": logits["text_a"]}, None).argmax(1) == labels).mean()
    image = (model.predict_proba(None, {"image_b": logits["image_b"]}).argmax(1) == labels).mean()
    assert full > text > image > 1 / N_LABELS


def test_no_modality_or_missing_model_is_an_error(
    fused: tuple[FusionModel, dict[str, np.ndarray], np.ndarray],
) -> None:
    model, logits, _ = fused
    with pytest.raises(ValueError, match="at least one modality"):
        model.predict_proba(None, None)
    with pytest.raises(KeyError, match="text_a"):
        model.predict_proba({"text_other": logits["text_a"]}, None)


def test_inference_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, shared.ml.fusion, shared.ml.preprocess; print('torch' in sys.modules)"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "False"
    )


def test_a_path_blends_with_its_best_single_model_by_cv_score(
    fused: tuple[FusionModel, dict[str, np.ndarray], np.ndarray],
) -> None:
    from shared.ml.fusion import softmax
    from training.fusion_train import choose_blend

    rng = np.random.default_rng(1)
    labels = rng.integers(0, N_LABELS, size=200)
    strong = _logits(labels, 0.5, rng)
    wrong_meta = np.eye(N_LABELS)[(labels + 1) % N_LABELS]  # a confidently wrong meta-model
    blend = choose_blend(wrong_meta, {"text_a": strong}, ["text_a"], labels)
    assert blend["model"] == "text_a" and blend["weight_meta"] == 0.0  # falls back to the single model
    good_meta = np.eye(N_LABELS)[labels]  # even a perfect meta-model does not blend into a lone model
    assert choose_blend(good_meta, {"text_a": strong}, ["text_a"], labels)["weight_meta"] == 0.0
    weak = _logits(labels, 0.05, rng)
    two = choose_blend(good_meta, {"text_a": strong, "text_b": weak}, ["text_a", "text_b"], labels)
    assert two["weight_meta"] == 1.0  # with two models the meta-model's gain is taken
    model, test, _ = fused
    path = model._paths["text"]
    path.blend_model, path.weight_meta = "text_a", 0.0
    try:
        probs = model.predict_proba({"text_a": test["text_a"]}, None)
        np.testing.assert_allclose(probs, softmax(test["text_a"].astype(np.float64)), atol=1e-9)
    finally:
        path.blend_model, path.weight_meta = None, 1.0
