"""The bulk path of the encoders on one GPU against the bare models (``deploy/scripts/gpu-bench.sh``).

Runs where only torch, timm, transformers, numpy and Pillow exist (no pydantic, Redis, SQL or
Triton): it imports nothing of ours but ``shared.ml.preprocess``, the decode, resize and tokenize
code the workers and training use. Measured, per model, on the same device and batch:

- ``bare``: the model alone on synthetic tensors already on the device (bf16 on CUDA);
- ``bulk``: the bulk path: for photos, 500x500 JPEG bytes decoded and resized by our code in a
  process pool (JPEG draft mode), then uploaded and inferred, decoding of batch k+1 overlapping
  inference of batch k; for text, our tokenizer on CPU then the model;
- ``decode``: the photo decode stage alone (with and without draft mode), and its share.

Random weights (no hub): the speed of a network does not depend on its weights. Prints JSON.
``--tiny --device cpu`` is the dry run the test suite runs.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import platform
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from shared.ml.preprocess import TextTokenizer, decode_image, prepare_image

MAX_PIXELS = 40_000_000
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImageShape:
    """The fields of ``ImageModelSpec`` that :func:`prepare_image` reads."""

    image_size: int
    resize: str = "resize"


@dataclass(frozen=True)
class TextShape:
    """The fields of ``TextModelSpec`` that :class:`TextTokenizer` reads."""

    tokenizer_dir: str
    max_length: int
    input_names: tuple[str, ...] = ("input_ids", "attention_mask")
    subword: None = None  # a word-piece tokenizer directory, not the subword featurizer


# --- synthetic inputs -------------------------------------------------------------------------
def synthetic_jpegs(count: int, side: int = 500, seed: int = 0) -> list[bytes]:
    """Photo-like JPEGs (smooth gradients, shapes, mild noise), quality 90, as sellers upload."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    out: list[bytes] = []
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    for _ in range(count):
        base = np.stack([a * xx + b * yy + c for a, b, c in rng.uniform(-120, 250, (3, 3))], axis=-1)
        base += rng.normal(0, 6, base.shape)
        image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x0, y0 = rng.integers(0, side - 60, 2)
            w, h = rng.integers(30, side // 2, 2)
            draw.ellipse(
                (int(x0), int(y0), int(x0 + w), int(y0 + h)),
                fill=tuple(int(v) for v in rng.integers(0, 255, 3)),
            )
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


WORDS = [
    "lot",
    "de",
    "livres",
    "roman",
    "policier",
    "jeu",
    "video",
    "console",
    "manette",
    "figurine",
    "collection",
    "peluche",
    "enfant",
    "piscine",
    "pompe",
    "filtre",
    "jardin",
    "tondeuse",
    "chaise",
    "table",
    "lampe",
    "coussin",
    "drap",
    "housse",
    "carte",
    "magic",
    "pokemon",
    "neuf",
    "occasion",
    "boite",
    "complet",
    "edition",
    "limitee",
    "couleur",
    "taille",
    "grand",
    "petit",
    "noir",
    "blanc",
]


def synthetic_texts(count: int, words: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, words)) for _ in range(count)]


def build_tokenizer(folder: Path, vocab: int, max_length: int, texts: list[str]) -> TextTokenizer:
    """A word-piece tokenizer trained here on ``texts`` (no hub), loaded by our TextTokenizer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    tokenizer.train_from_iterator(texts, trainer)
    (folder / "tok").mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tok" / "tokenizer.json"))
    return TextTokenizer(folder, TextShape("tok", max_length))  # type: ignore[arg-type]


# --- decode stage -----------------------------------------------------------------------------
def decode_chunk(blobs: list[bytes], size: int, draft: bool) -> np.ndarray:
    """uint8 [n, size, size, 3]: our decode (draft mode when asked) and resize, in a pool worker."""
    shape = ImageShape(size)
    return np.stack(
        [prepare_image(decode_image(b, MAX_PIXELS, size if draft else None), shape) for b in blobs]  # type: ignore[arg-type]
    )


def submit_batch(
    pool: ProcessPoolExecutor, blobs: list[bytes], size: int, draft: bool, workers: int
) -> list[Future[np.ndarray]]:
    step = max(1, -(-len(blobs) // (workers * 2)))
    return [pool.submit(decode_chunk, blobs[i : i + step], size, draft) for i in range(0, len(blobs), step)]


def decode_rate(pool: ProcessPoolExecutor, blobs: list[bytes], size: int, draft: bool, workers: int) -> float:
    started = time.perf_counter()
    for future in submit_batch(pool, blobs, size, draft, workers):
        future.result()
    return len(blobs) / (time.perf_counter() - started)


# --- models -----------------------------------------------------------------------------------
def image_model(name: str, tiny: bool) -> Any:
    import timm

    return timm.create_model("efficientnet_lite0" if tiny else name, pretrained=False, num_classes=27)


def text_model(kind: str, tiny: bool, vocab: int) -> Any:
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        CamembertConfig,
        CamembertForSequenceClassification,
    )

    if tiny:
        config = BertConfig(  # type: ignore[call-arg]
            vocab_size=vocab,
            hidden_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=128,
            num_labels=27,
        )
        return BertForSequenceClassification(config)
    if kind == "minilm":  # all-MiniLM-L6-v2's shape
        config = BertConfig(  # type: ignore[call-arg]
            vocab_size=30522,
            hidden_size=384,
            num_hidden_layers=6,
            num_attention_heads=12,
            intermediate_size=1536,
            num_labels=27,
        )
        return BertForSequenceClassification(config)
    camembert = CamembertConfig(  # type: ignore[call-arg]
        vocab_size=32005,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=514,
        num_labels=27,
    )
    return CamembertForSequenceClassification(camembert)


class Runner:
    """A model on the device in inference mode (bf16 on CUDA), timed with device syncs."""

    def __init__(self, model: Any, device: str) -> None:
        import torch

        self.torch, self.device = torch, torch.device(device)
        self.dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self.model = model.eval().to(self.device, dtype=self.dtype)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    def sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    def timed(self, step: Callable[[], Any], iterations: int, warmup: int = 2) -> float:
        """Seconds per call of ``step`` (after ``warmup`` calls)."""
        with self.torch.inference_mode():
            for _ in range(warmup):
                step()
            self.sync()
            started = time.perf_counter()
            for _ in range(iterations):
                step()
            self.sync()
        return (time.perf_counter() - started) / iterations

    def images(self, pixels: Any) -> Any:
        """uint8 NHWC (host or device) -> logits; normalisation on the device, as in our ONNX graph."""
        torch = self.torch
        x = pixels.to(self.device, non_blocking=True).permute(0, 3, 1, 2).to(self.dtype).div_(255)
        mean = torch.tensor(MEAN, device=self.device, dtype=self.dtype).view(1, 3, 1, 1)
        std = torch.tensor(STD, device=self.device, dtype=self.dtype).view(1, 3, 1, 1)
        return self.model((x - mean) / std)

    def texts(self, ids: Any, mask: Any) -> Any:
        return self.model(
            input_ids=ids.to(self.device, non_blocking=True),
            attention_mask=mask.to(self.device, non_blocking=True),
        ).logits


# --- benchmarks -------------------------------------------------------------------------------
def bench_image(
    name: str, args: argparse.Namespace, pool: ProcessPoolExecutor, blobs: list[bytes]
) -> dict[str, Any]:
    import torch

    size = args.image_size
    runner = Runner(image_model(name, args.tiny), args.device)
    batch = args.batch
    synthetic = torch.randint(0, 255, (batch, size, size, 3), dtype=torch.uint8, device=runner.device)
    bare_s = runner.timed(lambda: runner.images(synthetic), args.iterations)
    batches = [blobs[i : i + batch] for i in range(0, len(blobs), batch)]

    def bulk() -> int:
        done, pending = 0, submit_batch(pool, batches[0], size, True, args.workers)
        for k in range(len(batches)):
            pixels = np.concatenate([f.result() for f in pending])
            if k + 1 < len(batches):
                pending = submit_batch(pool, batches[k + 1], size, True, args.workers)
            host = torch.from_numpy(pixels)
            if runner.device.type == "cuda":
                host = host.pin_memory()
            runner.images(host)
            done += len(pixels)
        runner.sync()
        return done

    with torch.inference_mode():
        bulk()  # warm-up (pool processes started, cudnn plans chosen)
        started = time.perf_counter()
        count = bulk()
        bulk_s = time.perf_counter() - started
    return {
        "model": name if not args.tiny else f"{name} (tiny run: efficientnet_lite0)",
        "image_size": size,
        "batch": batch,
        "bare_per_s": round(batch / bare_s, 1),
        "bulk_per_s": round(count / bulk_s, 1),
        "bulk_to_bare": round((count / bulk_s) / (batch / bare_s), 3),
    }


def bench_text(
    kind: str, args: argparse.Namespace, tokenizer: TextTokenizer, texts: list[str], length: int
) -> dict[str, Any]:
    import torch

    runner = Runner(text_model(kind, args.tiny, args.vocab), args.device)
    batch = args.batch
    ids = torch.randint(5, args.vocab if args.tiny else 30000, (batch, length), device=runner.device)
    mask = torch.ones_like(ids)
    bare_s = runner.timed(lambda: runner.texts(ids, mask), args.iterations)
    batches = [texts[i : i + batch] for i in range(0, len(texts), batch)]

    def bulk() -> int:
        done = 0
        for part in batches:
            encoded = tokenizer.encode(part)
            runner.texts(torch.from_numpy(encoded["input_ids"]), torch.from_numpy(encoded["attention_mask"]))
            done += len(part)
        runner.sync()
        return done

    with torch.inference_mode():
        bulk()
        started = time.perf_counter()
        count = bulk()
        bulk_s = time.perf_counter() - started
    tokenize_started = time.perf_counter()
    for part in batches:
        tokenizer.encode(part)
    tokenize_s = time.perf_counter() - tokenize_started
    return {
        "model": kind if not args.tiny else f"{kind} (tiny run: 1-layer BERT)",
        "tokens": length,
        "batch": batch,
        "bare_per_s": round(batch / bare_s, 1),
        "bulk_per_s": round(count / bulk_s, 1),
        "bulk_to_bare": round((count / bulk_s) / (batch / bare_s), 3),
        "tokenize_per_s": round(len(texts) / tokenize_s, 1),
    }


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return str(torch.cuda.get_device_name(0))
    return platform.processor() or platform.machine()


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    blobs = synthetic_jpegs(args.photos)
    texts = synthetic_texts(args.texts, args.words)
    result: dict[str, Any] = {
        "device": args.device,
        "device_name": device_name(args.device),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "decode_workers": args.workers,
        "photos": len(blobs),
        "tiny": args.tiny,
        "images": [],
        "texts": [],
    }
    if args.tiny:
        torch.set_num_threads(1)
    # forkserver: pool processes never inherit the parent's torch threads (fork could hang).
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(args.workers, mp_context=context) as pool, tempfile.TemporaryDirectory() as tmp:
        decode_rate(pool, blobs[: args.workers * 4], args.image_size, True, args.workers)  # start the pool
        full = decode_rate(pool, blobs, args.image_size, False, args.workers)
        draft = decode_rate(pool, blobs, args.image_size, True, args.workers)
        result["decode"] = {
            "full_per_s": round(full, 1),
            "draft_per_s": round(draft, 1),
            "draft_speedup": round(draft / full, 2),
        }
        for name in args.image_models:
            result["images"].append(bench_image(name, args, pool, blobs))
        tokenizer = build_tokenizer(Path(tmp), args.vocab, max(args.text_lengths), texts)
        for kind, length in zip(args.text_models, args.text_lengths, strict=True):
            tokenizer._tokenizer.enable_truncation(max_length=length)
            result["texts"].append(bench_text(kind, args, tokenizer, texts, length))
    for entry in result["images"]:
        # The decode stage's share of the bulk path's time per photo (the rest: upload + model).
        entry["decode_share"] = round(min(1.0, (1 / draft) / (1 / entry["bulk_per_s"])), 3)
        entry["bulk_to_decode_limit"] = round(entry["bulk_per_s"] / draft, 3)
    return result


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="Small models and inputs (the CPU dry run).")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--photos", type=int, default=4096)
    parser.add_argument("--texts", type=int, default=8192)
    parser.add_argument("--words", type=int, default=90, help="Words per synthetic offer text.")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Decode processes.")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--image-models", nargs="+", default=["efficientnet_lite0", "convnext_base"])
    parser.add_argument("--text-models", nargs="+", default=["minilm", "camembert"])
    parser.add_argument("--text-lengths", nargs="+", type=int, default=[128, 256])
    parser.add_argument("--vocab", type=int, default=8000, help="Vocabulary of the tokenizer trained here.")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None, help="Also write the JSON here.")
    args = parser.parse_args(argv)
    if args.tiny:
        args.batch, args.photos, args.texts, args.words = (
            min(args.batch, 8),
            min(args.photos, 24),
            min(args.texts, 24),
            20,
        )
        args.image_size, args.iterations, args.vocab = 64, 1, min(args.vocab, 200)
        args.workers = min(args.workers, 2)
    if len(args.text_models) != len(args.text_lengths):
        parser.error("--text-models and --text-lengths need the same number of values")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    result = run(args)
    text = json.dumps(result, indent=2)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text, "utf-8")
    print(text)


if __name__ == "__main__":
    main()
