"""The slim image has no torch: its roles must never import it (nor transformers, timm)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
