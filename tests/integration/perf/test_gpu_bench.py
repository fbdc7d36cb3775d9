"""The GPU benchmark's CPU dry run, on an interpreter where the GPU box's missing packages are
made unimportable: the script must need none of them (the box has no pydantic, Redis, SQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ABSENT_ON_GPU_BOX = ("pydantic", "pydantic_settings", "faststream", "redis", "sqlalchemy", "lightgbm")

# None in sys.modules: `import x` fails and importlib.util.find_spec("x") says "not installed",
# exactly as on a machine without the package.
BLOCKER = f"import sys\nfor name in {ABSENT_ON_GPU_BOX!r}:\n    sys.modules[name] = None\n"


def test_gpu_bench_dry_run_needs_only_the_gpu_box_packages(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    out = tmp_path / "gpu.json"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHON": sys.executable}
    run = subprocess.run(
        [
            str(ROOT / "deploy/scripts/gpu-bench.sh"),
            "--tiny",
            "--device",
            "cpu",
            "--image-models",
            "efficientnet_lite0",
            "--text-models",
            "minilm",
            "--text-lengths",
            "16",
            "--json",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["tiny"] is True
    assert result["decode"]["full_per_s"] > 0 and result["decode"]["draft_per_s"] > 0
    (image,) = result["images"]
    assert image["bare_per_s"] > 0 and image["bulk_per_s"] > 0 and 0 < image["decode_share"] <= 1
    (text,) = result["texts"]
    assert text["tokens"] == 16 and text["bulk_per_s"] > 0 and text["tokenize_per_s"] > 0


def test_the_blocker_blocks(tmp_path: Path) -> None:
    """The check above could not fail if the blocker did not work."""
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    run = subprocess.run(
        [sys.executable, "-c", "import shared.config"], env=env, capture_output=True, text=True
    )
    assert run.returncode != 0 and "ModuleNotFoundError" in run.stderr
