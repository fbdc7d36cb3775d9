"""Photos: deterministic per random stream, category-dependent, JPEG-encodable."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from training.synth.config import SynthConfig
from training.synth.images import LOOKS, PhotoMaker, encode_jpeg
from training.synth.lexicon import NEIGHBOURS


def _photo(maker: PhotoMaker, code: int, k: int, **flags: bool) -> np.ndarray:
    img = maker.draw(code, np.random.default_rng([code, k]), flags.get("uninformative", False), False)
    return np.asarray(img)


def test_every_category_has_a_look() -> None:
    assert set(LOOKS) == set(NEIGHBOURS)


def test_same_stream_same_photo_and_jpeg_bytes() -> None:
    a, b = PhotoMaker(3, SynthConfig()), PhotoMaker(3, SynthConfig())
    img_a = a.draw(2583, np.random.default_rng(1), False, False)
    img_b = b.draw(2583, np.random.default_rng(1), False, False)
    assert img_a.size == (500, 500) and img_a.mode == "RGB"
    assert encode_jpeg(img_a, 85) == encode_jpeg(img_b, 85)
    assert Image.open(io.BytesIO(encode_jpeg(img_a, 85))).format == "JPEG"


def test_photo_content_depends_on_the_category() -> None:
    """Pools are drawn blue on grass or water, furniture in wood tones: their mean colours differ."""
    maker = PhotoMaker(0, SynthConfig(image_noise=0.0))
    pool = np.mean([_photo(maker, 2583, k).reshape(-1, 3).mean(0) for k in range(12)], axis=0)
    sofa = np.mean([_photo(maker, 1560, k).reshape(-1, 3).mean(0) for k in range(12)], axis=0)
    assert pool[2] - pool[0] > sofa[2] - sofa[0] + 10  # bluer
    assert not np.array_equal(_photo(maker, 10, 0), _photo(maker, 40, 0))
