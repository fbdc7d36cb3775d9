"""``catalog synth`` as a user runs it: a real process writing a real catalog."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

CATALOG = [sys.executable, "-m", "services.cli.main"]


def test_synth_command_writes_the_challenge_layout(tmp_path: Path) -> None:
    out = tmp_path / "data"
    run = subprocess.run([*CATALOG, "synth", "--out", str(out), "--n", "30", "--seed", "2", "--quiet"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "wrote 30 offers" in run.stdout
    x = pd.read_csv(out / "X_train_update.csv", index_col=0)
    y = pd.read_csv(out / "Y_train_CVw08PX.csv", index_col=0)
    assert len(x) == len(y) == 30
    assert any((out / "images" / "image_train").glob("image_*_product_*.jpg"))


def test_synth_command_rejects_a_file_as_output(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    run = subprocess.run([*CATALOG, "synth", "--out", str(target), "--n", "5"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 2
    assert "not a directory" in run.stdout + run.stderr
