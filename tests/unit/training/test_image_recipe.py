"""The image recipe's levers: per-epoch training resolution (serving size unchanged), label
smoothing, the image patience, and the profiles that use them (docs/benchmarks/training.md,
"Photos: more learned per CPU minute")."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from shared.ml.model_repo import ImageModelSpec
from training.image_data import augment_batch, build_pixel_store
from training.image_model import build_image_model, smoothed_cross_entropy, train_image_model, train_size
from training.profiles import PROFILES, get_profile


def test_train_size_follows_the_schedule_repeats_its_last_and_defaults_to_the_serving_size() -> None:
    tiny = PROFILES["tiny"]
    assert [train_size(tiny, e) for e in range(3)] == [tiny.image_size] * 3
    staged = replace(tiny, image_train_sizes=(32, 48, 64))
    assert [train_size(staged, e) for e in range(5)] == [32, 48, 64, 64, 64]


def test_label_smoothing_zero_is_cross_entropy_and_more_spreads_the_target() -> None:
    logits = torch.tensor([[4.0, 0.0, -1.0], [0.5, 2.0, 0.0]])
    labels = torch.tensor([0, 1])
    plain = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.allclose(smoothed_cross_entropy(0.0)(logits, labels), plain)
    log_p = torch.log_softmax(logits, 1)
    target = torch.full_like(logits, 0.1 / 3)
    target[torch.arange(2), labels] += 0.9
    expected = -(target * log_p).sum(1).mean()
    assert torch.allclose(smoothed_cross_entropy(0.1)(logits, labels), expected)
    assert smoothed_cross_entropy(0.1)(logits, labels) > plain  # confident right answers pay a little


def test_augmentation_at_a_smaller_size_is_seeded_and_keeps_the_format() -> None:
    images = torch.from_numpy(np.random.default_rng(1).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8))
    small = augment_batch(images, torch.Generator().manual_seed(3), size=20)
    assert small.dtype == torch.uint8 and small.shape == (5, 20, 20, 3)
    assert torch.equal(small, augment_batch(images, torch.Generator().manual_seed(3), size=20))
    assert augment_batch(images, torch.Generator().manual_seed(3)).shape == images.shape


def test_training_runs_each_epoch_at_its_size_and_the_model_serves_at_the_profile_size(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(0)
    paths: list[Path | None] = []
    for i in range(24):
        path = tmp_path / f"{i}.png"
        colour = (200, 30, 30) if i % 2 else (30, 30, 200)
        Image.fromarray(np.clip(rng.normal(colour, 20, (40, 40, 3)), 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    spec = ImageModelSpec(name="i", base="x", triton_version=1, image_size=32, mean=[0.5] * 3, std=[0.5] * 3)
    store, _ = build_pixel_store(paths, spec, 10_000_000, tmp_path / "cache" / "c")
    profile = replace(
        get_profile("tiny"),
        image_size=32,
        image_epochs=3,
        image_train_sizes=(16, 24),
        image_label_smoothing=0.1,
        image_max_steps_per_epoch=2,
        image_batch_size=8,
        image_patience=5,
    )
    torch.manual_seed(0)
    model, _, _ = build_image_model("test_efficientnet=random", 2)
    sides: list[int] = []
    model.register_forward_pre_hook(lambda _m, args: sides.append(int(args[0].shape[1])))
    rows, labels = np.arange(16), np.arange(16) % 2
    result = train_image_model(
        model,
        store,
        rows,
        labels,
        profile,
        tmp_path / "run" / "checkpoint.pt",
        "t",
        np.arange(16, 24),
        np.arange(16, 24) % 2,
    )
    # 2 training steps per epoch at 16, 24, 24 px; each epoch's validation pass at the serving 32 px
    assert sides == [16, 16, 32, 24, 24, 32, 24, 24, 32]
    assert len(result.losses) == 3 and not result.stopped_early  # patience 5 of the profile, not 2
    with torch.no_grad():
        assert model(torch.from_numpy(store.read(np.arange(3)))).shape == (3, 2)


def test_production_gets_the_full_image_recipe() -> None:
    production = PROFILES["production"]
    assert production.image_freeze_fraction == 0.0 and production.image_epochs >= 30
    assert production.image_label_smoothing > 0 and production.image_lr > 1e-4
    assert production.image_patience is not None and production.image_patience > PROFILES["default"].patience
    assert not production.image_train_sizes  # a GPU trains at the serving size throughout


def test_every_profile_trains_its_last_epochs_at_the_serving_size() -> None:
    for profile in PROFILES.values():
        assert train_size(profile, profile.image_epochs - 1) == profile.image_size, profile.name
