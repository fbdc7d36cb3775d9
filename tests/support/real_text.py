"""The Debian real-text excerpt (tests/data/debian_text) as a catalog directory in the challenge layout."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

DEBIAN_TEXT = Path(__file__).parents[1] / "data" / "debian_text"
"""1,500 offers of ``python -m training.real_text --n 1500 --seed 3`` (Debian bookworm, May 2025)."""


def debian_catalog(tmp_path: Path) -> Path:
    """Write the excerpt under ``tmp_path/catalog`` (the offers file decompressed) and return it."""
    data = tmp_path / "catalog"
    data.mkdir()
    shutil.copy(DEBIAN_TEXT / "Y_train_CVw08PX.csv", data)
    with (
        gzip.open(DEBIAN_TEXT / "X_train_update.csv.gz") as source,
        open(data / "X_train_update.csv", "wb") as out,
    ):
        shutil.copyfileobj(source, out)
    return data
