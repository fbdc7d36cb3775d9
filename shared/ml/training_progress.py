"""Progress of a background training run, as a small JSON file under the var dir.

The demo's background trainer writes it (atomically, a few times a minute); the API serves it at
``GET /v1/training`` for the dashboard's progress bar, and the demo's terminal reads it too. A
file rather than Redis keeps the trainer free of any service it does not otherwise need.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

PROGRESS_FILE = "training/progress.json"


class TrainingProgress(BaseModel):
    """One snapshot of a training run (stage, fraction done, estimated time left)."""

    state: Literal["running", "published", "failed"]
    profile: str = Field(..., description="Training profile being trained.")
    stage: str = Field(..., description="Current stage: synth, text, image, fusion, evaluate, publish.")
    fraction: float = Field(..., ge=0, le=1, description="Estimated fraction done (measured stage times).")
    started_at: datetime
    updated_at: datetime
    elapsed_s: float
    eta_s: float | None = Field(None, description="Estimated seconds left; None when unknown or done.")
    version: str | None = Field(None, description="Published model version (state published).")
    metrics: dict[str, object] = Field(default_factory=dict, description="Held-out F1 when published.")
    error: str | None = None
    log_file: str | None = Field(None, description="The trainer's full log.")
    pid: int | None = None


def progress_path(var_dir: Path) -> Path:
    return Path(var_dir) / PROGRESS_FILE


def write_progress(path: Path, progress: TrainingProgress) -> None:
    """Replace ``path`` atomically (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(progress.model_dump_json(indent=2))
    os.replace(tmp, path)


def read_progress(path: Path) -> TrainingProgress | None:
    """The last snapshot, or None when no background training ever ran here."""
    try:
        return TrainingProgress.model_validate_json(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
