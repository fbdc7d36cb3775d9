"""Fine-tuning an image model's last stages on cached activations of its frozen front.

Why: the default recipe freezes the first ~60% of EfficientNet-Lite0 and fine-tunes the rest;
the frozen front runs at high resolution and was 84% of every training step's forward pass, paid
again for every epoch of every fold model (two folds and the refit). The front never changes, so
its activations are computed once per photo (a float16 file in the work dir, shared by the folds
and the refit) and each epoch runs only the trainable stages at 7x7 - 14x14. The time saved buys
epochs. Augmentation is computed ahead: ``image_front_views`` augmented copies of every photo
(the pixel recipe's zoom, shift, rotation, flip and colour jitter) go through the front once
each, and epoch ``e`` trains on copy ``e mod views``; with none (the default profile), a random
horizontal flip of the cached maps is the augmentation. Measured on the default run: the
same out-of-fold F1 as the pixel recipe either way (0.681-0.682), the copies at 1.6x the time
(docs/benchmarks/training.md). What the tail lacked was regularisation (it fits its rows by the
second epoch): the default profile adds dropout before the classifier and mixup of the cached
maps with soft targets (``image_tail_dropout``, ``image_mixup``).

The cut is at a stage boundary (timm EfficientNet-style backbones: ``conv_stem``, ``bn1``,
``blocks``, ``conv_head``, ``bn2``, ``global_pool``, ``classifier``): the first blocks whose
parameter tensors reach ``image_freeze_fraction``. The trained modules are the model's own, so
the exported model is the whole ``ImageClassifier`` as before; serving does not change.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from training.image_data import PixelStore, augment_batch
from training.image_model import ImageClassifier
from training.loop import FitResult, fit, linear_schedule
from training.profiles import Profile
from training.progress import progress_bar

STAGE_PARTS = ("conv_stem", "bn1", "blocks", "conv_head", "bn2", "global_pool", "classifier")


def _part(model: ImageClassifier, name: str) -> nn.Module:
    part = getattr(model.backbone, name)
    assert isinstance(part, nn.Module)
    return part


def _blocks(model: ImageClassifier) -> list[nn.Module]:
    return list(_part(model, "blocks").children())


def front_stages(model: ImageClassifier, fraction: float) -> int | None:
    """Number of ``blocks`` stages frozen with the stem (the first whose tensors reach
    ``fraction`` of the backbone's), or None when the backbone has no such stages."""
    backbone = model.backbone
    if not all(hasattr(backbone, part) for part in STAGE_PARTS) or fraction <= 0:
        return None
    total = len(list(backbone.parameters()))
    frozen = len(list(_part(model, "conv_stem").parameters())) + len(list(_part(model, "bn1").parameters()))
    blocks = _blocks(model)
    for stage, block in enumerate(blocks):
        frozen += len(list(block.parameters()))
        if frozen >= int(total * fraction):
            return stage + 1 if stage + 1 < len(blocks) else None
    return None


class Front(nn.Module):
    """uint8 NHWC pixels -> the activations after the first ``stages`` blocks (frozen, eval)."""

    def __init__(self, model: ImageClassifier, stages: int) -> None:
        super().__init__()
        self.model = model
        self.layers = nn.Sequential(_part(model, "conv_stem"), _part(model, "bn1"), *_blocks(model)[:stages])

    @torch.no_grad()
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2).float()
        return self.layers((x - self.model.mean) / self.model.std)  # type: ignore[no-any-return,operator]


class Tail(nn.Module):
    """Front activations -> logits: the trainable stages, head and classifier of the model."""

    def __init__(self, model: ImageClassifier, stages: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*_blocks(model)[stages:])
        self.conv_head, self.bn2 = _part(model, "conv_head"), _part(model, "bn2")
        self.global_pool, self.classifier = _part(model, "global_pool"), _part(model, "classifier")
        self.drop_rate = dropout or float(getattr(model.backbone, "drop_rate", 0.0))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.global_pool(self.bn2(self.conv_head(self.blocks(features))))
        if self.drop_rate > 0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return self.classifier(x)  # type: ignore[no-any-return]


class FrontCache:
    """float16 front activations of ``rows`` of a pixel store, computed once into ``path``:
    view 0 of the photos as served, views 1..``views`` of augmented copies (training.image_data's
    zoom, shift, rotation, flip and colour jitter, seeded). Read back with ``pread`` row by row,
    so the cache costs disk and page cache, not the process's memory."""

    def __init__(
        self,
        front: Front,
        store: PixelStore,
        rows: np.ndarray,
        path: Path,
        views: int = 0,
        seed: int = 0,
        chunk: int = 64,
    ) -> None:
        self.index = {int(r): k for k, r in enumerate(rows)}
        self.path, self.views = path, views
        done = path.with_suffix(".done")
        if not done.is_file():
            self._compute(front, store, rows, views, seed, chunk)
            done.touch()
        with path.open("rb") as handle:
            np.lib.format.read_magic(handle)
            shape, _, _ = np.lib.format.read_array_header_1_0(handle)
            self.offset = handle.tell()
        self.shape: tuple[int, ...] = tuple(shape)
        self.row_values = int(np.prod(shape[2:]))
        self._fd: int | None = None
        self._pid = -1

    def _compute(
        self, front: Front, store: PixelStore, rows: np.ndarray, views: int, seed: int, chunk: int
    ) -> None:
        shape = tuple(front(torch.from_numpy(store.read(rows[:1]))).shape[1:])
        out = np.lib.format.open_memmap(
            self.path, mode="w+", dtype=np.float16, shape=(1 + views, len(rows), *shape), version=(1, 0)
        )
        with progress_bar() as bar:
            task = bar.add_task(f"front activations x{1 + views}", total=len(rows) * (1 + views), info="")
            for view in range(1 + views):
                generator = torch.Generator().manual_seed(seed * 1009 + view)
                for start in range(0, len(rows), chunk):
                    pixels = torch.from_numpy(store.read(rows[start : start + chunk]))
                    if view:
                        pixels = augment_batch(pixels, generator)
                    out[view, start : start + chunk] = front(pixels).numpy().astype(np.float16)
                    bar.update(task, advance=len(pixels))
        out.flush()
        del out

    def read(self, rows: np.ndarray, view: int = 0) -> torch.Tensor:
        """float32 activations of ``rows`` (store row numbers) in ``view``, in that order."""
        out = np.empty((len(rows), *self.shape[2:]), dtype=np.float16)
        row_bytes = self.row_values * 2
        base = self.offset + view * self.shape[1] * row_bytes
        if self._fd is None or self._pid != os.getpid():  # one descriptor per process
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        for k, row in enumerate(rows):
            got = os.preadv(self._fd, [memoryview(out[k]).cast("B")], base + self.index[int(row)] * row_bytes)
            if got != row_bytes:
                raise OSError(f"short read from {self.path} at row {row}")
        return torch.from_numpy(out.astype(np.float32))


def _mixed(
    features: torch.Tensor, labels: np.ndarray, n_labels: int, rng: np.random.Generator, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup of a batch with a shuffled copy of itself: the maps and the one-hot labels mixed by
    one Beta(alpha, alpha) weight (soft targets for the cross-entropy)."""
    weight = float(rng.beta(alpha, alpha))
    partner = torch.from_numpy(rng.permutation(len(features)))
    targets = F.one_hot(torch.from_numpy(labels.astype(np.int64)), n_labels).float()
    return (
        weight * features + (1 - weight) * features[partner],
        weight * targets + (1 - weight) * targets[partner],
    )


def _feature_batches(
    cache: FrontCache,
    rows: np.ndarray,
    labels: np.ndarray,
    profile: Profile,
    epoch: int,
    n_labels: int,
) -> Iterator[tuple[tuple[torch.Tensor], torch.Tensor]]:
    """Shuffled batches of ``rows``: from augmented view ``1 + epoch % views`` when the cache has
    them, else from the served view with each map flipped left-right with probability 1/2; mixed
    up where the profile says."""
    rng = np.random.default_rng(profile.seed + epoch)
    order = rng.permutation(len(rows))
    view = 1 + epoch % cache.views if cache.views else 0
    for start in range(0, len(order), profile.image_batch_size):
        chosen = order[start : start + profile.image_batch_size]
        features = cache.read(rows[chosen], view)
        if not view:
            flip = torch.from_numpy(rng.random(len(chosen)) < 0.5)
            features[flip] = features[flip].flip(-1)
        if profile.image_mixup > 0:
            mixed, targets = _mixed(features, labels[chosen], n_labels, rng, profile.image_mixup)
            yield (mixed,), targets
            continue
        yield (features,), torch.from_numpy(labels[chosen].astype(np.int64))


@torch.no_grad()
def tail_logits(tail: Tail, cache: FrontCache, rows: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Logits of ``rows`` through the cached front and ``tail`` (eval mode)."""
    tail.eval()
    parts = [tail(cache.read(rows[s : s + chunk])).numpy() for s in range(0, len(rows), chunk)]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 0), dtype=np.float32)


def train_tail(
    model: ImageClassifier,
    stages: int,
    cache: FrontCache,
    rows: np.ndarray,
    labels: np.ndarray,
    profile: Profile,
    checkpoint: Path,
    description: str,
    val_rows: np.ndarray | None = None,
    val_labels: np.ndarray | None = None,
) -> tuple[Tail, FitResult]:
    """Fine-tune the model's stages after ``stages`` on cached activations (CPU), early-stopped
    on the validation loss of ``val_rows``; the front stays frozen and in eval mode."""
    for param in model.parameters():
        param.requires_grad = False
    tail = Tail(model, stages, profile.image_tail_dropout)
    n_labels = int(model.backbone.get_classifier().out_features)  # type: ignore[operator]
    for param in tail.parameters():
        param.requires_grad = True
    steps = -(-len(rows) // profile.image_batch_size)
    if profile.image_max_steps_per_epoch is not None:
        steps = min(steps, profile.image_max_steps_per_epoch)
    optimizer = torch.optim.AdamW(tail.parameters(), lr=profile.image_lr, weight_decay=0.01)
    scheduler = linear_schedule(optimizer, steps * profile.image_epochs)
    smoothing = profile.image_label_smoothing

    def validate(net: nn.Module) -> float:
        assert isinstance(net, Tail)
        logits = torch.from_numpy(tail_logits(net, cache, val_rows))  # type: ignore[arg-type]
        return float(F.cross_entropy(logits, torch.from_numpy(val_labels).long()))  # type: ignore[arg-type]

    result = fit(
        tail,
        optimizer,
        scheduler,
        lambda epoch: _feature_batches(cache, rows, labels, profile, epoch, n_labels),
        profile.image_epochs,
        steps,
        checkpoint,
        description,
        validate=validate if val_rows is not None and val_labels is not None and len(val_rows) else None,
        patience=profile.patience if profile.image_patience is None else profile.image_patience,
        mixed_precision=False,
        loss_fn=lambda logits, y: F.cross_entropy(logits, y, label_smoothing=smoothing),
    )
    model.eval()
    return tail, result
