"""One look for every progress bar of the CLI (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


def progress_bar(field: str | None = None, console: Console | None = None, disable: bool = False) -> Progress:
    """Description, bar, done/total, elapsed, remaining; ``field`` adds a per-task text column
    (every task must then be created with that field, e.g. ``add_task(..., note="")``)."""
    columns: list[ProgressColumn] = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    if field is not None:
        columns.append(TextColumn(f"{{task.fields[{field}]}}"))
    return Progress(*columns, console=console, disable=disable)


def ingest_progress(console: Console | None = None) -> Progress:
    """A bar over a file's bytes: done/size, rate, remaining (from the size), rows so far
    (the task needs ``note=""``); a file's row count is unknown until it is read."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
        console=console,
    )
