"""The slim image has no torch: its roles must never import it (nor transformers, timm)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli.registry import WORKERS

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("torch", "transformers", "timm", "torchvision")


def test_slim_roles_and_the_api_never_import_torch() -> None:
    modules = [
        f"services.{name.replace('-', '_')}.worker" for name, s in WORKERS.items() if s.image == "slim"
    ]
    modules += ["services.api.app", "services.cli.wiring", "services.cli.main"]
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(json.dumps(sorted(h for h in {HEAVY!r} if h in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [], modules
    assert len(modules) >= 4


def test_slim_requirements_leave_out_the_training_stack() -> None:
    pins = (ROOT / "deploy/docker/requirements-slim.txt").read_text().lower()
    names = {line.split("==")[0] for line in pins.splitlines() if "==" in line}
    assert not names & {"torch", "torchvision", "timm", "transformers", "tritonclient"}
    assert {"faststream", "redis", "sqlalchemy", "onnxruntime", "tokenizers"} <= names


# Imported when present, never required: urllib3 tries brotli; setuptools' distutils shim is
# loaded by a .pth file of every virtual environment. ``catalog`` is this project itself.
OPTIONAL = {"brotli", "setuptools", "catalog"}
ROLES = {
    "slim": [f"services.{n.replace('-', '_')}.worker" for n, s in WORKERS.items() if s.image == "slim"]
    + ["services.cli.main"],
    "inference": [
        f"services.{n.replace('-', '_')}.worker" for n, s in WORKERS.items() if s.image == "inference"
    ]
    + ["services.api.app", "services.cli.wiring", "services.cli.main", "services.rollout.controller"],
}


@pytest.mark.parametrize("image", sorted(ROLES))
def test_each_role_imports_only_what_its_image_installs(image: str) -> None:
    """The distributions a role's modules load at import time are pinned in its image's
    requirements: a slim worker that imported tritonclient would not even start there."""
    code = (
        "import importlib, json, sys\n"
        "from importlib.metadata import packages_distributions\n"
        f"for m in {ROLES[image]!r}: importlib.import_module(m)\n"
        "dists = packages_distributions()\n"
        "print(json.dumps(sorted({d for n in list(sys.modules) for d in dists.get(n.split('.')[0], [])})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    used = {_norm(d) for d in json.loads(result.stdout.strip().splitlines()[-1])}
    pins = (ROOT / f"deploy/docker/requirements-{image}.txt").read_text().splitlines()
    installed = {_norm(line.split("==")[0]) for line in pins if "==" in line}
    assert used - installed - OPTIONAL == set(), f"{image}: imported but not in its image"
    assert len(used) > 20


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")
