"""Progress bars for training (rich when installed, silent otherwise).

Why optional: the GPU check (services.bench.gpu_check) runs on a machine with only torch, timm,
transformers, ONNX, numpy, pandas, pillow, scikit-learn and the wheels carried for it; rich
is a CLI nicety, not something training needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class _Silent:
    """The slice of rich.progress.Progress that training uses, doing nothing."""

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def add_task(self, *_: Any, **__: Any) -> int:
        return 0

    def update(self, *_: Any, **__: Any) -> None:
        return None


def progress_bar() -> Any:
    """Description, bar, done/total, info field, elapsed, remaining."""
    try:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
    except ImportError:
        return _Silent()
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    try:
        from rich.progress import track as rich_track
    except ImportError:
        yield from items
        return
    yield from rich_track(items, description=description, total=total)
