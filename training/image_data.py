"""Photos for training, streamed from disk: a pixel cache file, batches read from it in loader
workers, augmentation on the batch tensor where the model runs.

Why: the real catalog (84,916 photos) at 224x224 is 12.8 GB of uint8 pixels; holding it (or
every decoded photo) in RAM does not scale. The cache is one ``.npy`` file (header by
``np.lib.format.open_memmap``) filled chunk by chunk by a thread pool (Pillow releases the GIL
while decoding and resizing) and read back row by row with ``os.preadv`` into small batch
buffers: the process never maps the whole file, so its resident memory (RSS, which counts
touched pages of a mapping) is bounded by the chunk and batch sizes, not by the catalog.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from shared.ml.model_repo import ImageModelSpec
from shared.ml.preprocess import decode_image, prepare_image
from training.progress import track

CHUNK = 512


class PixelStore:
    """Read-only uint8 [N, S, S, 3] pixels of a ``.npy`` file, read by rows (never mapped whole).

    Picklable (path and offsets only; the file is opened lazily), so loader workers each open
    their own descriptor.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with self.path.open("rb") as handle:
            version = np.lib.format.read_magic(handle)
            reader = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = reader(handle)
            self.offset = handle.tell()
        if dtype != np.uint8 or len(shape) != 4:
            raise ValueError(f"{path} is not a uint8 [N, S, S, 3] pixel cache")
        self.shape: tuple[int, int, int, int] = tuple(shape)  # type: ignore[assignment]
        self.row_bytes = int(np.prod(shape[1:]))
        self._fd: int | None = None
        self._pid = -1

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_fd": None, "_pid": -1}

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Pixels of ``rows``, in the order given, read straight into a fresh buffer."""
        out = np.empty((len(rows), *self.shape[1:]), dtype=np.uint8)
        fd = self._descriptor()
        for k, row in enumerate(np.asarray(rows, dtype=np.int64)):
            if not 0 <= row < self.shape[0]:
                raise IndexError(f"row {row} outside the pixel cache of {self.shape[0]}")
            got = os.preadv(fd, [memoryview(out[k]).cast("B")], self.offset + int(row) * self.row_bytes)
            if got != self.row_bytes:
                raise OSError(f"short read from {self.path} at row {row}")
        return out

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)


def _decode(path: Path | None, spec: ImageModelSpec, max_pixels: int, target: int) -> np.ndarray | None:
    if path is None:
        return None
    try:
        return prepare_image(decode_image(path.read_bytes(), max_pixels, target), spec)
    except (ValueError, OSError):
        return None


def build_pixel_store(
    paths: list[Path | None],
    spec: ImageModelSpec,
    max_pixels: int,
    cache: Path,
    workers: int = 2,
    target: int | None = None,
) -> tuple[PixelStore, np.ndarray]:
    """(pixel cache, bool [N] valid) of ``paths`` via decode_image + prepare_image, on disk.

    Filled ``CHUNK`` photos at a time (decoded by ``workers`` threads, written with pwrite), so
    memory holds one chunk. ``target``: the decode target serving will use for the exported
    manifest (:func:`shared.ml.preprocess.decode_target`; default ``spec.image_size``, which it is
    when every image model has one input size): the cache holds exactly the served pixels.
    """
    pixels_file, valid_file = cache.with_suffix(".pixels.npy"), cache.with_suffix(".valid.npy")
    if pixels_file.is_file() and valid_file.is_file():
        return PixelStore(pixels_file), np.load(valid_file)
    cache.parent.mkdir(parents=True, exist_ok=True)
    size = spec.image_size
    decode_to = target or size
    tmp = pixels_file.with_suffix(".tmp")
    header = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), size, size, 3))
    offset = header.offset
    del header  # sparse file of the right size; nothing of it is resident
    valid = np.zeros(len(paths), dtype=bool)
    row_bytes = size * size * 3
    chunks = range(0, len(paths), CHUNK)
    fd = os.open(tmp, os.O_WRONLY)
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for start in track(chunks, description=f"decode images {size}px", total=len(chunks)):
                part = paths[start : start + CHUNK]
                decoded = pool.map(lambda p: _decode(p, spec, max_pixels, decode_to), part)
                for k, pixels in enumerate(decoded):
                    if pixels is not None:
                        os.pwrite(fd, pixels.tobytes(), offset + (start + k) * row_bytes)
                        valid[start + k] = True
    finally:
        os.close(fd)
    os.replace(tmp, pixels_file)
    np.save(valid_file, valid)
    return PixelStore(pixels_file), valid


class _Batches(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Item k = the k-th batch (rows sorted for sequential reads, labels aligned)."""

    def __init__(self, store: PixelStore, batches: list[np.ndarray], labels: list[np.ndarray]) -> None:
        self.store, self.batches, self.labels = store, batches, labels

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.store.read(self.batches[k])), torch.from_numpy(self.labels[k])


def loader(
    store: PixelStore,
    rows: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seed: int,
    workers: int,
    pin: bool,
) -> DataLoader[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled batches of ``rows`` (labels aligned) read from ``store`` by ``workers`` processes."""
    order = np.random.default_rng(seed).permutation(len(rows))
    batches, batch_labels = [], []
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        by_row = np.argsort(rows[chosen])
        batches.append(rows[chosen][by_row])
        batch_labels.append(labels[chosen][by_row].astype(np.int64))
    return DataLoader(
        _Batches(store, batches, batch_labels),
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        pin_memory=pin,
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
    )


def augment_batch(images: torch.Tensor, generator: torch.Generator, size: int | None = None) -> torch.Tensor:
    """Flip, zoom/shift/rotate and colour jitter of a uint8 [B, H, W, 3] batch, on its device.

    One vectorised pass (affine_grid + grid_sample, per-sample factors broadcast), instead of
    a per-image Python loop: the GPU is not held to a few hundred photos/s. The random draws
    come from a CPU ``generator`` so a seed gives the same batch on every device. ``size``: the
    side of the output (default: the input's); a smaller one is reached by an antialiased
    resize first, so early epochs can train at a lower resolution than serving's (each step
    costs about (size / H)^2 of a full-size one; the network pools globally, so it runs at any).
    """
    n = images.shape[0]
    if n == 0:
        return images
    draw = torch.rand((n, 7), generator=generator)
    flip = torch.where(draw[:, 0] < 0.5, -1.0, 1.0)
    scale = 0.8 + 0.2 * draw[:, 1]
    angle = (draw[:, 2] - 0.5) * (math.pi / 9)  # +-10 degrees
    shift = (draw[:, 3:5] - 0.5) * 0.2
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, shift[:, 0]], 1), torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1
    )
    device = images.device
    x = images.permute(0, 3, 1, 2).float()
    if size is not None and size != x.shape[-1]:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    grid = F.affine_grid(theta.to(device), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    brightness = (0.75 + 0.5 * draw[:, 5]).to(device).view(n, 1, 1, 1)
    contrast = (0.75 + 0.5 * draw[:, 6]).to(device).view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean
    x = x * brightness
    return x.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def batches_on(
    data: DataLoader[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    seed: int,
    augment: bool = True,
    size: int | None = None,
) -> Iterator[tuple[tuple[torch.Tensor], torch.Tensor]]:
    """Loader batches moved to ``device`` and augmented there (at ``size`` px when given)."""
    generator = torch.Generator().manual_seed(seed)
    non_blocking = device.type == "cuda"
    for images, labels in data:
        images = images.to(device, non_blocking=non_blocking)
        if augment:
            images = augment_batch(images, generator, size)
        yield (images,), labels.to(device, non_blocking=non_blocking)
