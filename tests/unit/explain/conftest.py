from __future__ import annotations

from pathlib import Path

import pytest

from shared.ml.model_repo import Manifest
from tests.unit.explain.repo import build_explain_repository


@pytest.fixture
def model_repo(tmp_path: Path) -> tuple[Path, Manifest]:
    root = tmp_path / "model_repository"
    return root, build_explain_repository(root)
