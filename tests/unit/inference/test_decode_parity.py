"""One decode rule: the image encoder, training's pixel cache and offline scoring give a model
the very same pixels for the same photo (issue 24 E: served confidences differed from offline
evaluation by up to 0.03 because serving decoded JPEGs in draft mode and training did not)."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from services.image_encoder.images import load_images
from shared.config import Settings
from shared.ml.model_repo import ImageModelSpec
from shared.ml.preprocess import prepare_image, specs_decode_target
from training.image_data import build_pixel_store
from training.scoring import decode_photo

MAX_PIXELS = 10_000_000


def _spec(size: int, resize: str = "resize") -> ImageModelSpec:
    fields = {"base": "x", "triton_version": 1, "mean": [0.5] * 3, "std": [0.5] * 3}
    return ImageModelSpec(name=f"image_{size}", image_size=size, resize=resize, **fields)  # type: ignore[arg-type]


def _photos(root: Path) -> list[Path | None]:
    """A 500x500 JPEG (the marketplace's photos: draft-decoded at 1/4 for 64 px), a wide one,
    a PNG (never drafted) and a photo smaller than the model input."""
    rng = np.random.default_rng(3)
    paths: list[Path | None] = []
    for name, (h, w), fmt in [
        ("big.jpg", (500, 500), "JPEG"),
        ("wide.jpg", (300, 700), "JPEG"),
        ("flat.png", (400, 400), "PNG"),
        ("small.jpg", (50, 40), "JPEG"),
    ]:
        smooth = rng.integers(0, 255, (h // 10 + 1, w // 10 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(smooth).resize((w, h), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        (root / name).write_bytes(buffer.getvalue())
        paths.append(root / name)
    return paths


@pytest.mark.parametrize("resize", ["resize", "resize_center_crop"])
async def test_served_cached_and_scored_pixels_are_identical(tmp_path: Path, resize: str) -> None:
    paths = _photos(tmp_path)
    spec = _spec(64, resize)
    target = specs_decode_target([spec])
    settings = Settings(image_roots=[tmp_path])
    async with httpx.AsyncClient() as client:
        served_images = await load_images([f"file://{p}" for p in paths], settings, client, target)
    served = np.stack([prepare_image(image, spec) for image in served_images])  # type: ignore[arg-type]
    store, valid = build_pixel_store(
        paths, spec, MAX_PIXELS, tmp_path / "cache" / "c", workers=2, target=target
    )
    scored = np.stack([prepare_image(decode_photo(p, MAX_PIXELS, target), spec) for p in paths])  # type: ignore[arg-type]
    assert valid.all()
    assert np.array_equal(store.read(np.arange(len(paths))), served)
    assert np.array_equal(scored, served)
    big = served_images[0]
    assert isinstance(big, Image.Image) and big.size == (125, 125)  # draft: 1/4 of 500, >= 64


def test_decode_target_is_the_largest_model_input() -> None:
    assert specs_decode_target([_spec(64), _spec(224)]) == 224
    assert specs_decode_target([]) is None
