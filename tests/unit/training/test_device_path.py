"""The device-aware training path on the CPU: device resolution, the streamed pixel cache,
batch augmentation, loader workers and resuming from CPU-tensor checkpoints."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from shared.ml.model_repo import ImageModelSpec, TextModelSpec
from shared.ml.preprocess import TextTokenizer, decode_image, prepare_image
from training import subword_model, text_model
from training.device import resolve_device
from training.image_data import augment_batch, batches_on, build_pixel_store, loader
from training.profiles import PROFILES

SPEC = ImageModelSpec(name="img", base="x", triton_version=1, image_size=24, mean=[0.5] * 3, std=[0.5] * 3)


def test_auto_resolves_to_the_cpu_here_and_cuda_is_refused_without_one() -> None:
    assert not torch.cuda.is_available()  # this machine; the GPU check covers the other branch
    assert resolve_device("auto") == torch.device("cpu") == resolve_device("cpu")
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="Unknown device"):
        resolve_device("gpu")


def _photos(root: Path, n: int) -> list[Path | None]:
    rng = np.random.default_rng(0)
    paths: list[Path | None] = []
    for i in range(n):
        path = root / f"{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (40 + i, 50, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    (root / "broken.jpg").write_bytes(b"not a jpeg")
    return [*paths, None, root / "broken.jpg"]


def test_pixel_cache_holds_the_served_pixels_and_reads_rows_in_any_order(tmp_path: Path) -> None:
    paths = _photos(tmp_path, 5)
    store, valid = build_pixel_store(paths, SPEC, 10_000_000, tmp_path / "cache" / "c", workers=2)
    assert valid.tolist() == [True] * 5 + [False, False]
    assert store.shape == (7, 24, 24, 3) and len(store) == 7
    decoded = [decode_image(p.read_bytes(), 10_000_000, SPEC.image_size) for p in paths[:5]]  # type: ignore[union-attr]
    served = [prepare_image(image, SPEC) for image in decoded]
    order = np.array([3, 0, 4, 1])
    assert np.array_equal(store.read(order), np.stack([served[i] for i in order]))
    assert not store.read(np.array([5])).any()  # a missing photo stays zeros
    assert np.array_equal(pickle.loads(pickle.dumps(store)).read(order), store.read(order))  # workers
    assert np.array_equal(np.load(store.path, mmap_mode="r")[2], served[2])  # a plain .npy file
    with pytest.raises(IndexError):
        store.read(np.array([7]))
    again, _ = build_pixel_store(paths, SPEC, 10_000_000, tmp_path / "cache" / "c")
    assert again.path == store.path and not list((tmp_path / "cache").glob("*.tmp"))


def test_batch_augmentation_is_vectorised_seeded_and_keeps_the_input_format() -> None:
    images = torch.from_numpy(np.random.default_rng(1).integers(0, 255, (6, 24, 24, 3), dtype=np.uint8))
    first = augment_batch(images, torch.Generator().manual_seed(3))
    second = augment_batch(images, torch.Generator().manual_seed(3))
    other = augment_batch(images, torch.Generator().manual_seed(4))
    assert first.dtype == torch.uint8 and first.shape == images.shape
    assert torch.equal(first, second) and not torch.equal(first, other)
    assert not torch.equal(first, images)


def test_loader_worker_yields_every_row_once_with_its_label(tmp_path: Path) -> None:
    store, _ = build_pixel_store(_photos(tmp_path, 5), SPEC, 10_000_000, tmp_path / "c")
    rows = np.array([4, 0, 2, 3, 1])
    labels = rows * 10
    seen: dict[int, int] = {}
    data = loader(store, rows, labels, batch_size=2, seed=0, workers=1, pin=False)
    pixels = {int(r): store.read(np.array([r]))[0] for r in rows}
    for (images,), batch_labels in batches_on(data, torch.device("cpu"), seed=0, augment=False):
        for image, label in zip(images.numpy(), batch_labels.tolist(), strict=True):
            row = label // 10
            assert np.array_equal(image, pixels[row])
            seen[row] = seen.get(row, 0) + 1
    assert seen == {r: 1 for r in range(5)}


def test_training_resumes_from_cpu_checkpoints_with_the_device_path(tmp_path: Path) -> None:
    profile = PROFILES["production-tiny"]
    texts = [f"livre de poche {i}" if i % 2 else f"jouet en bois {i}" for i in range(40)]
    labels = np.array([i % 2 for i in range(40)])
    spec = TextModelSpec(
        name="s", base="subword", triton_version=1, tokenizer_dir=".", max_length=64,
        subword=subword_model.subword_spec(profile),
    )  # fmt: skip
    encoded = text_model.EncodedTexts(TextTokenizer(tmp_path, spec), texts)
    settings = subword_model.subword_training(profile)
    rows, val = np.arange(32), np.arange(32, 40)
    checkpoint = tmp_path / "run" / "checkpoint.pt"

    def run() -> tuple[torch.nn.Module, object]:
        model = subword_model.build_subword_model(profile, 2).to(resolve_device("auto"))
        optimizer = subword_model.prepare_fit(model, profile, [encoded.ids[i] for i in rows])
        result = text_model.train_text_model(
            model, encoded, rows, labels[rows], val, labels[val], settings, checkpoint, "s", optimizer,
            resolve_device("cpu"),
        )  # fmt: skip
        return model, result

    model, result = run()
    saved = torch.load(checkpoint, weights_only=False)  # no map_location: as saved
    assert saved["epoch"] == settings.epochs or saved["stopped"]
    assert all(t.device.type == "cpu" for t in saved["model"].values())  # loadable on any device
    resumed, again = run()  # nothing left to train: the best epoch's weights come back
    assert again.losses == result.losses  # type: ignore[attr-defined]
    assert np.array_equal(
        text_model.logits_of(resumed, encoded, val), text_model.logits_of(model, encoded, val)
    )


def test_a_slow_tokenizer_is_run_through_transformers(tmp_path: Path) -> None:
    from transformers import ByT5Tokenizer

    ByT5Tokenizer().save_pretrained(str(tmp_path / "tok"))
    assert not (tmp_path / "tok" / "tokenizer.json").exists()  # no fast tokenizer, like FlauBERT
    spec = TextModelSpec(name="t", base="byt5", triton_version=1, tokenizer_dir="tok", max_length=6)
    tokenizer = TextTokenizer(tmp_path, spec)
    out = tokenizer.encode(["livré", "ab", ""])
    assert out["input_ids"].dtype == np.int64 and out["input_ids"].shape == (3, 6)
    assert out["attention_mask"].tolist()[1] == [1, 1, 1, 0, 0, 0]
    assert tokenizer.pad_id == 0 and out["input_ids"][1, 3:].tolist() == [0, 0, 0]
