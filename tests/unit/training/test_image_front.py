"""Training the stages after a frozen front on its cached activations (training.image_front):
the split model computes what the whole one does, only the tail learns, the cache is reused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from shared.ml.model_repo import ImageModelSpec
from training.image_data import build_pixel_store
from training.image_front import Front, FrontCache, Tail, _mixed, front_stages, tail_logits, train_tail
from training.image_model import build_image_model
from training.profiles import PROFILES


def _photos(tmp_path: Path, n: int = 24) -> list[Path | None]:
    rng = np.random.default_rng(0)
    paths: list[Path | None] = []
    for i in range(n):
        path = tmp_path / f"{i}.png"
        colour = (200, 30, 30) if i % 2 else (30, 30, 200)
        Image.fromarray(np.clip(rng.normal(colour, 20, (40, 40, 3)), 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def test_the_cut_is_a_stage_boundary_and_front_then_tail_is_the_whole_model() -> None:
    torch.manual_seed(0)
    model, _, _ = build_image_model("efficientnet_lite0=random", 5)
    model.eval()
    stages = front_stages(model, 0.6)
    assert stages == 5  # stem + blocks 0-4 hold >= 60% of the parameter tensors
    assert front_stages(model, 0.0) is None  # nothing frozen: train on pixels
    pixels = torch.randint(0, 255, (3, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        whole = model(pixels)
        split = Tail(model, stages).eval()(Front(model, stages)(pixels))
    assert torch.allclose(whole, split, atol=1e-5)


@pytest.mark.parametrize("regularised", [False, True], ids=["plain", "dropout_mixup"])
def test_only_the_tail_learns_and_the_cache_is_computed_once(tmp_path: Path, regularised: bool) -> None:
    spec = ImageModelSpec(name="i", base="x", triton_version=1, image_size=32, mean=[0.5] * 3, std=[0.5] * 3)
    store, valid = build_pixel_store(_photos(tmp_path), spec, 10_000_000, tmp_path / "cache" / "c")
    rows = np.flatnonzero(valid)
    labels = np.array([i % 2 for i in range(len(valid))])
    torch.manual_seed(0)
    model, _, _ = build_image_model("efficientnet_lite0=random", 2)
    model.eval()
    stages = front_stages(model, 0.6)
    assert stages is not None
    front_before = [p.detach().clone() for p in Front(model, stages).layers.parameters()]
    tail_before = [p.detach().clone() for p in Tail(model, stages).parameters()]
    path = tmp_path / "front.npy"
    cache = FrontCache(Front(model, stages), store, rows, path)
    assert cache.shape[:2] == (1, len(rows)) and np.load(path).dtype == np.float16
    stamp = path.stat().st_mtime_ns
    FrontCache(Front(model, stages), store, rows, path)  # resumed: not recomputed
    assert path.stat().st_mtime_ns == stamp
    profile = replace(PROFILES["tiny"], image_epochs=2, image_batch_size=8, image_lr=1e-2)
    if regularised:  # the default profile's: soft mixup targets through the loop, dropout in training only
        profile = replace(profile, image_tail_dropout=0.3, image_mixup=0.2)
    tail, result = train_tail(
        model,
        stages,
        cache,
        rows[:16],
        labels[rows[:16]],
        profile,
        tmp_path / "ck" / "checkpoint.pt",
        "test",
        rows[16:],
        labels[rows[16:]],
    )
    assert len(result.losses) >= 1
    for before, after in zip(front_before, Front(model, stages).layers.parameters(), strict=True):
        assert torch.equal(before, after)
    assert any(not torch.equal(b, a) for b, a in zip(tail_before, tail.parameters(), strict=True))
    logits = tail_logits(tail, cache, rows[16:])
    with torch.no_grad():
        served = model.eval()(torch.from_numpy(store.read(rows[16:]))).numpy()
    # the served model is the trained one: the cache's float16 rounding is all that differs
    assert logits.shape == served.shape and np.abs(logits - served).max() < 0.05


def test_augmented_views_are_cached_once_each_and_differ_from_the_served_view(tmp_path: Path) -> None:
    spec = ImageModelSpec(name="i", base="x", triton_version=1, image_size=32, mean=[0.5] * 3, std=[0.5] * 3)
    store, valid = build_pixel_store(_photos(tmp_path, 8), spec, 10_000_000, tmp_path / "cache" / "c")
    rows = np.flatnonzero(valid)
    torch.manual_seed(0)
    model, _, _ = build_image_model("efficientnet_lite0=random", 2)
    model.eval()
    front = Front(model, 5)
    cache = FrontCache(front, store, rows, tmp_path / "views.npy", views=2, seed=3)
    assert cache.shape[:2] == (3, len(rows))
    served = cache.read(rows[::-1])
    with torch.no_grad():
        direct = front(torch.from_numpy(store.read(rows[::-1])))
    assert torch.allclose(served, direct, atol=2e-2 * float(direct.abs().max()))  # float16 rounding
    assert not torch.equal(cache.read(rows, 1), cache.read(rows, 2))
    again = FrontCache(front, store, rows, tmp_path / "views2.npy", views=2, seed=3)
    assert torch.equal(again.read(rows, 2), cache.read(rows, 2))  # seeded


def test_mixup_mixes_maps_and_one_hot_labels_with_one_weight() -> None:
    maps = torch.randn(6, 2, 3, 3)
    labels = np.array([0, 1, 2, 0, 1, 2])
    mixed, targets = _mixed(maps, labels, 4, np.random.default_rng(0), 0.4)
    assert targets.shape == (6, 4) and torch.allclose(targets.sum(1), torch.ones(6))
    assert float(targets[:, 3].abs().sum()) == 0.0  # no mass on a label no row has
    weight = float(targets[torch.arange(6), torch.from_numpy(labels)].min())
    assert 0.0 < weight <= 1.0
    assert not torch.equal(mixed, maps)  # a partner moved at least one map
