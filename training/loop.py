"""One resumable training loop for every base model, with validation, early stopping and the
best checkpoint.

Why validation: the last epoch is not the best one (a linear model over hashed n-grams overfits
label noise within a few epochs; a fine-tuned backbone may not have converged). After each
epoch the loop scores a held-aside validation slice (never trained on) and keeps the weights of
the best epoch; it stops after ``patience`` epochs without improvement. The model that is
exported, scored and fused is the best checkpoint.

Checkpoints (``checkpoint``: the last epoch, to resume; ``best.pt`` beside it: the best) make an
interrupted ``catalog train`` resume where it stopped; finished models are not retrained. They
hold CPU tensors, so a run started on a GPU resumes on a CPU and the reverse (training.device).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from training.device import autocast, cpu_state, model_device, to_device
from training.progress import progress_bar

log = logging.getLogger(__name__)
SYNC_EVERY = 50
"""Steps between two reads of the running loss from the GPU (for the progress bar)."""

Batch = tuple[Sequence[torch.Tensor], torch.Tensor]
Validator = Callable[[nn.Module], float]
"""Validation loss of a model (lower is better); the loop calls it after each epoch."""
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(logits, integer labels) -> mean loss of the batch."""


def squared_hinge(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """One-vs-rest squared hinge (LinearSVC's default loss), summed over classes, batch mean.

    Why: on catalogs with ambiguous titles and noisy labels a linear model over TF-IDF features
    trained with it beats the same model trained with cross-entropy (measured on the synthetic
    catalog: 0.862 vs 0.847 weighted F1), because it stops pushing on rows already right by a
    margin and caps how far a mislabelled row can pull."""
    target = -torch.ones_like(logits)
    target[torch.arange(len(labels), device=labels.device), labels] = 1.0
    return (torch.clamp(1.0 - target * logits, min=0.0) ** 2).sum(1).mean()


LOSSES: dict[str, Loss] = {"cross_entropy": nn.functional.cross_entropy, "squared_hinge": squared_hinge}


def linear_schedule(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup: float = 0.1
) -> torch.optim.lr_scheduler.LambdaLR:
    warm = max(1, int(total_steps * warmup))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class FitResult:
    """What one training run did: per-epoch losses, the kept epoch and why it stopped."""

    losses: list[float]
    val_losses: list[float]
    best_epoch: int
    stopped_early: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "epochs_run": len(self.losses),
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "train_loss": [round(v, 4) for v in self.losses],
            "val_loss": [round(v, 4) for v in self.val_losses],
        }


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batches: Callable[[int], Iterable[Batch]],
    epochs: int,
    steps_per_epoch: int,
    checkpoint: Path,
    description: str,
    train_mode: Callable[[nn.Module], None] | None = None,
    validate: Validator | None = None,
    patience: int = 2,
    clip_norm: float | None = 1.0,
    mixed_precision: bool = True,
    loss_fn: Loss = nn.functional.cross_entropy,
) -> FitResult:
    """``loss_fn`` (cross-entropy unless told) for up to ``epochs`` epochs, resuming from
    ``checkpoint``; the model ends with the weights of the epoch of lowest validation loss (the
    last one without ``validate``).

    Runs where the model's parameters are (training.device): batches are moved there, the
    forward pass runs under bf16 autocast on CUDA when ``mixed_precision``."""
    device = model_device(model)
    best_file = checkpoint.with_name("best.pt")
    losses: list[float] = []
    val_losses: list[float] = []
    start, best_epoch, stopped = 0, 0, False
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, losses = int(state["epoch"]), list(state["losses"])
        val_losses, best_epoch = list(state.get("val_losses", [])), int(state.get("best_epoch", start))
        stopped = bool(state.get("stopped", False))
        log.info("resuming training", extra={"model": description, "epoch": start})
    best_state = (
        torch.load(best_file, map_location="cpu", weights_only=False) if best_file.is_file() else None
    )
    with progress_bar() as bar:
        task = bar.add_task(description, total=max(0, epochs - start) * steps_per_epoch, info="")
        for epoch in range(start, epochs):
            if stopped:
                break
            model.train()
            if train_mode is not None:
                train_mode(model)
            # The loss is summed on the device and read back every SYNC_EVERY steps only: a
            # `.item()` per step stalls the GPU queue (16% of the step rate at batch 64 on an H200).
            total, count, shown = torch.zeros((), dtype=torch.float64, device=device), 0, 0.0
            for step, (inputs, labels) in enumerate(batches(epoch)):
                if step >= steps_per_epoch:
                    break
                optimizer.zero_grad(set_to_none=True)
                inputs = to_device(inputs, device)
                labels = labels.to(device, non_blocking=device.type == "cuda")
                with autocast(device, mixed_precision):
                    logits = model(*inputs)
                loss = loss_fn(logits.float(), labels)
                loss.backward()
                if clip_norm is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
                optimizer.step()
                scheduler.step()
                total, count = total + loss.detach().double(), count + 1
                if count % SYNC_EVERY == 0 or device.type != "cuda":
                    shown = float(total) / count
                bar.update(task, advance=1, info=f"epoch {epoch + 1}/{epochs} loss {shown:.3f}")
            losses.append(float(total) / max(1, count))
            if validate is not None:
                model.eval()
                val_losses.append(float(validate(model)))
                if val_losses[-1] <= min(val_losses):
                    best_epoch, best_state = epoch + 1, cpu_state(model)
                    _atomic_save(best_file, best_state)
                stopped = epoch + 1 - best_epoch >= patience
            else:
                best_epoch, best_state = epoch + 1, None
            _atomic_save(
                checkpoint,
                {
                    "model": cpu_state(model),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch + 1,
                    "losses": losses,
                    "val_losses": val_losses,
                    "best_epoch": best_epoch,
                    "stopped": stopped,
                },
            )
            log.info(
                "epoch finished",
                extra={
                    "model": description,
                    "epoch": epoch + 1,
                    "loss": round(losses[-1], 4),
                    "val_loss": round(val_losses[-1], 4) if val_losses else None,
                    "best_epoch": best_epoch,
                },
            )
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return FitResult(losses, val_losses, best_epoch, stopped and len(losses) < epochs)


def _atomic_save(path: Path, state: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
