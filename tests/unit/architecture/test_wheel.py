"""What the installed package holds: production code and its data, never test support.

The wheel is built from a copy of the working tree (setuptools writes ``build/`` and
``*.egg-info`` next to the sources), offline, with this environment's setuptools.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
COPIED = ("pyproject.toml", "README.md", "shared", "services", "training", "tests", "tools", "deploy")
NEEDED_DATA = (
    "shared/data/categories.json",
    "shared/migrations/env.py",
    "shared/migrations/script.py.mako",
    "services/api/static/dashboard.html",
    "services/api/static/dashboard.js",
    "services/api/static/dashboard.css",
)
"""Files read at run time from the package: migrations (``catalog migrate``, every writer), the
category list and the dashboard."""


def forbidden(name: str) -> bool:
    """Test support: ``tests/``, ``tools/``, the stand-ins and the fault-injection harness."""
    parts = name.split("/")
    return (
        parts[0] in ("tests", "tools")
        or "standins" in parts
        or any(part.startswith("chaos") for part in parts)
    )


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in COPIED:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        elif path.is_file():
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "--no-index", "-q", "-w", str(out)], check=True, cwd=source)
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_holds_no_test_support(wheel_names: list[str]) -> None:
    shipped = [name for name in wheel_names if forbidden(name)]
    assert shipped == [], "test support in the wheel:\n" + "\n".join(shipped)


def test_the_wheel_ships_only_the_three_packages(wheel_names: list[str]) -> None:
    """No tools, tests or deployment tooling: only what the images run."""
    tops = {n.split("/")[0] for n in wheel_names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"shared", "services", "training"}
    assert "services/cli/main.py" in wheel_names and "services/bench/commands.py" in wheel_names


def test_the_wheel_holds_the_data_the_code_reads(wheel_names: list[str]) -> None:
    assert [name for name in NEEDED_DATA if name not in wheel_names] == []
    assert any(name.startswith("shared/migrations/versions/") for name in wheel_names)
    assert "services/cli/main.py" in wheel_names and "shared/broker/app.py" in wheel_names


@pytest.mark.parametrize(
    ("name", "test_support"),
    [
        ("tests/support/factories.py", True),
        ("tools/chaos/harness.py", True),
        ("services/standins/translator.py", True),
        ("services/cli/chaos_cluster.py", True),
        ("services/cli/main.py", False),
        ("shared/migrations/env.py", False),
    ],
)
def test_what_counts_as_test_support(name: str, test_support: bool) -> None:
    assert forbidden(name) is test_support
