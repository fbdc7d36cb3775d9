"""Where training runs: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda``.

Why one module: every base model, the validation pass and the out-of-fold scoring place
tensors and pick mixed precision the same way. On CUDA the forward pass runs under bf16
autocast (no loss scaling needed, unlike fp16); on CPU it runs in float32 as before, so CPU
results are unchanged. Checkpoints always hold CPU tensors, so a run resumes on any device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for ``name``; ValueError for ``cuda`` on a machine without one."""
    if name not in DEVICES:
        raise ValueError(f"Unknown device {name!r}; choose one of {', '.join(DEVICES)}.")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA device.")
    return torch.device(name)


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on CUDA (when ``enabled``); a no-op on CPU (float32, as before)."""
    if device.type == "cuda" and enabled:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter (CPU for a model without any)."""
    for param in model.parameters():
        return param.device
    return torch.device("cpu")


def to_device(tensors: Sequence[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    non_blocking = device.type == "cuda"
    return [t.to(device, non_blocking=non_blocking) for t in tensors]


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the weights (best checkpoint kept in host memory, loadable anywhere)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


@contextlib.contextmanager
def memory_peak(device: torch.device) -> Iterator[dict[str, float]]:
    """Peak GPU memory (GiB) allocated inside the block; 0 on CPU."""
    out: dict[str, float] = {"gpu_peak_gib": 0.0}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    yield out
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        out["gpu_peak_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
