from __future__ import annotations

from pathlib import Path

import pytest

from shared.ml.model_repo import Manifest
from tests.unit.inference.repo_fixture import build_repository


@pytest.fixture
def model_repo(tmp_path: Path) -> tuple[Path, Manifest]:
    """A tiny repository (revision 1) with text, image and fusion models."""
    root = tmp_path / "model_repository"
    return root, build_repository(root)
