"""Model input preparation shared by training, evaluation and the encoder workers (no skew).

Training scores its held-out split and `catalog evaluate` scores offers through exactly these
functions, so a served prediction equals the evaluated one for the same offer. Imports numpy,
Pillow (and ``tokenizers`` when a tokenizer is built) only, so the GPU benchmark runs it as is.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

if TYPE_CHECKING:  # annotations only: this module needs numpy and Pillow alone (GPU bench)
    from shared.ml.model_repo import ImageModelSpec, Manifest, TextModelSpec


def decode_image(data: bytes, max_pixels: int, target: int | None) -> Image.Image:
    """Decoded RGB image; ValueError when the bytes are not an image or are too large.

    The one decode rule of serving, training's pixel cache and offline scoring: every path
    passes the same ``target`` (:func:`decode_target` of the manifest, the largest model input
    side), so a model sees the pixels it was trained and evaluated on (docs/architecture.md §4).
    The size is checked from the header before decoding, so a decompression bomb never
    allocates its pixels. A JPEG at least twice ``target`` is decoded in draft mode: libjpeg
    scales by 1/2, 1/4 or 1/8 while decoding (never below ``target``), several times faster than
    decoding every pixel and resizing after. ``None``: no model size known, full decode.
    """
    if not data:
        raise ValueError("empty image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width <= 0 or height <= 0:
                raise ValueError("image has no pixels")
            if width * height > max_pixels:
                raise ValueError(f"image too large: {width}x{height} pixels > {max_pixels}")
            if target and image.format == "JPEG":
                image.draft("RGB", (target, target))
            image.load()
            upright: Image.Image = ImageOps.exif_transpose(image) or image
            return upright.convert("RGB") if upright.mode != "RGB" else upright
    except ValueError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # PIL refuses the header's size itself: too large, not corrupt.
        raise ValueError(f"image too large: {exc}") from exc
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"not a readable image: {exc}") from exc


def decode_target(manifest: Manifest) -> int | None:
    """The side photos are decoded down to for ``manifest``: its largest image model input."""
    return specs_decode_target(manifest.image_models)


def specs_decode_target(specs: Iterable[ImageModelSpec]) -> int | None:
    """The side photos are decoded down to for these image models (the largest input side)."""
    return max((spec.image_size for spec in specs), default=None)


def prepare_image(image: Image.Image, spec: ImageModelSpec) -> np.ndarray:
    """uint8 HxWx3 RGB at ``spec.image_size``, as the model saw images at evaluation time.

    Normalisation (mean/std) happens inside the ONNX graph, so only resizing happens here.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    size = spec.image_size
    if spec.resize == "resize_center_crop":
        image = ImageOps.fit(image, (size, size), method=Image.Resampling.BILINEAR)
    elif image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8).copy()


class TextTokenizer:
    """The tokenizer saved next to a text model (``tokenizer.json``), without transformers.

    Uses the ``tokenizers`` library directly: the same fast tokenizer transformers would run,
    but light enough for the text-encoder worker. A fastText-style model (``spec.subword``)
    is featurized by shared.ml.subword instead: same call, same output names, so the workers and
    both inference backends need not know which kind of text model they run.

    A base with no fast tokenizer (FlauBERT: transformers has none) is saved without
    ``tokenizer.json``; its slow tokenizer is then run through transformers (which the
    text-encoder image must then carry, with sacremoses for FlauBERT's Moses pre-tokenizer).
    """

    def __init__(self, repository: Path, spec: TextModelSpec) -> None:
        self.spec = spec
        self.pad_id = 0
        self._slow: object | None = None
        if spec.subword is not None:
            return
        from tokenizers import Tokenizer

        path = Path(repository) / spec.tokenizer_dir / "tokenizer.json"
        if not path.is_file() and (path.parent / "tokenizer_config.json").is_file():
            self._load_slow(path.parent)
            return
        if not path.is_file():
            raise FileNotFoundError(f"No tokenizer.json at {path}: the model repository is incomplete.")
        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.enable_truncation(max_length=spec.max_length)
        self.pad_id, pad_token = _pad_token(path.parent, self._tokenizer)
        self._tokenizer.enable_padding(pad_id=self.pad_id, pad_token=pad_token)

    def _load_slow(self, directory: Path) -> None:
        from transformers import AutoTokenizer

        self._slow = AutoTokenizer.from_pretrained(str(directory))
        pad = getattr(self._slow, "pad_token_id", None)
        self.pad_id = int(pad) if pad is not None else 0

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        """int64 [batch, longest] arrays named as ``spec.input_names``."""
        if self.spec.subword is not None:
            from shared.ml.subword import encode_batch

            return encode_batch(texts, self.spec.subword)
        if self._slow is not None:
            return self._encode_slow(texts)
        encodings = self._tokenizer.encode_batch([text or "" for text in texts])
        fields = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        out: dict[str, np.ndarray] = {}
        for name in self.spec.input_names:
            if name not in fields:
                raise ValueError(f"Unsupported text model input {name!r}")
            out[name] = np.asarray(fields[name], dtype=np.int64).reshape(len(texts), -1)
        return out

    def _encode_slow(self, texts: list[str]) -> dict[str, np.ndarray]:
        batch = self._slow(  # type: ignore[misc,operator]
            [text or "" for text in texts],
            padding=True,
            truncation=True,
            max_length=self.spec.max_length,
            return_token_type_ids=True,
        )
        out: dict[str, np.ndarray] = {}
        for name in self.spec.input_names:
            if name not in batch:
                raise ValueError(f"Unsupported text model input {name!r}")
            out[name] = np.asarray(batch[name], dtype=np.int64).reshape(len(texts), -1)
        return out


def _pad_token(directory: Path, tokenizer: object) -> tuple[int, str]:
    """The pad token recorded by transformers (tokenizer_config.json), else [PAD] / <pad>."""
    import json

    config = directory / "tokenizer_config.json"
    candidates: list[str] = []
    if config.is_file():
        value = json.loads(config.read_text("utf-8")).get("pad_token")
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            candidates.append(value)
    candidates += ["[PAD]", "<pad>"]
    for token in candidates:
        token_id = tokenizer.token_to_id(token)  # type: ignore[attr-defined]
        if token_id is not None:
            return int(token_id), token
    return 0, candidates[0]
