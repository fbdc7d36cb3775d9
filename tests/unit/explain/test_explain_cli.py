"""``catalog explain`` and ``catalog bench explain`` as a user runs them (the console script)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from tests.unit.explain.repo import build_explain_repository


def catalog(args: list[str], repo: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("catalog") or str(Path(sys.executable).with_name("catalog"))
    env = {**os.environ, "CATALOG_MODEL_REPOSITORY": str(repo), "CATALOG_TRANSLATOR": "none",
           "CATALOG_VAR_DIR": str(tmp_path / "var")}  # fmt: skip
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def test_explain_prints_words_heatmap_and_json(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    build_explain_repository(repo)
    pixels = np.full((60, 60, 3), 128, dtype=np.uint8)
    pixels[:12, :12] = (250, 250, 10)  # a yellow spot (2583's colour) in the top-left cell
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    args = ["explain", "--title", "Piscine superbe", "--image", str(tmp_path / "photo.png")]
    text = catalog([*args, "--heatmap-png", str(tmp_path / "h.png")], repo, tmp_path)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("2583  Piscine") and "words for:     piscine" in text.stdout
    assert Image.open(tmp_path / "h.png").format == "PNG"
    as_json = catalog([*args, "--json"], repo, tmp_path)
    body = json.loads(as_json.stdout)
    assert body["heatmap"]["weights"][0][0] == max(max(row) for row in body["heatmap"]["weights"])
    assert catalog(["explain"], repo, tmp_path).returncode == 2  # nothing to explain: usage error


def test_bench_explain_writes_rates_and_timings(tmp_path: Path) -> None:
    from training.synth import generate_catalog

    repo = tmp_path / "repo"
    build_explain_repository(repo)
    generate_catalog(tmp_path / "data", 8, 3)
    out = tmp_path / "bench.json"
    result = catalog(
        ["bench", "explain", "--json", str(out), "--data", str(tmp_path / "data"), "--n", "3"], repo, tmp_path
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(out.read_text())
    assert body["model_version"] == "r1-test" and body["timing"]["offers"] == 3
    assert body["timing"]["p50_s"] > 0 and body["timing"]["requests_per_offer"] >= 2
    assert body["deciding_word_first"]["offers"] == 3 and 0 <= body["deciding_word_first"]["rate"] <= 1
    assert body["deciding_photo_region_first"]["chance"] == 0.16
