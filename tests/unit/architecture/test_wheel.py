"""The installed wheel holds the shipped packages only: no stand-in, fault-injection harness,
test support or deployment tooling (tools/, tests/, deploy/ stay in the checkout)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SOURCES = ("pyproject.toml", "README.md", "shared", "services", "training", "tools", "tests", "deploy")

pytestmark = pytest.mark.timeout(300)


def build_wheel(tmp_path: Path) -> list[str]:
    """Build the wheel from a copy of the checkout (the build writes into its source tree)."""
    src = tmp_path / "src"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path / "wheel"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("catalog-*.whl")
    return zipfile.ZipFile(wheel).namelist()


def test_the_wheel_ships_no_tools_tests_or_deployment_tooling(tmp_path: Path) -> None:
    names = build_wheel(tmp_path)
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"shared", "services", "training"}
    assert "services/cli/main.py" in names and "services/bench/commands.py" in names
    leaked = [n for n in names if any(word in n for word in ("standin", "chaos", "tritonserver", "support"))]
    assert leaked == []
