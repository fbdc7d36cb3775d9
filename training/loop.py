"""One resumable training loop for every base model (checkpoint after each epoch).

An interrupted ``catalog train`` rerun with the same data, profile and work dir resumes from
the last finished epoch of the model it was training; finished models are not retrained.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from torch import nn

log = logging.getLogger(__name__)

Batch = tuple[Sequence[torch.Tensor], torch.Tensor]


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )


def linear_schedule(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup: float = 0.1
) -> torch.optim.lr_scheduler.LambdaLR:
    warm = max(1, int(total_steps * warmup))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


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
) -> list[float]:
    """Train ``epochs`` epochs of cross-entropy, resuming from ``checkpoint``; mean loss per epoch."""
    losses: list[float] = []
    start = 0
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, losses = int(state["epoch"]), list(state["losses"])
        log.info("resuming training", extra={"model": description, "epoch": start})
    if start >= epochs:
        return losses
    loss_fn = nn.CrossEntropyLoss()
    with progress_bar() as bar:
        task = bar.add_task(description, total=(epochs - start) * steps_per_epoch, info="")
        for epoch in range(start, epochs):
            model.train()
            if train_mode is not None:
                train_mode(model)
            total, count = 0.0, 0
            for step, (inputs, labels) in enumerate(batches(epoch)):
                if step >= steps_per_epoch:
                    break
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(*inputs), labels)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                total, count = total + loss.item(), count + 1
                bar.update(task, advance=1, info=f"epoch {epoch + 1}/{epochs} loss {total / count:.3f}")
            losses.append(total / max(1, count))
            _save(checkpoint, model, optimizer, scheduler, epoch + 1, losses)
            log.info(
                "epoch finished",
                extra={
                    "model": description,
                    "epoch": epoch + 1,
                    "epochs": epochs,
                    "loss": round(losses[-1], 4),
                },
            )
    model.eval()
    return losses


def _save(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    epoch: int,
    losses: list[float],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": epoch,
        "losses": losses,
    }
    torch.save(state, tmp)
    os.replace(tmp, path)
