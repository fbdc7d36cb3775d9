"""The GPU probe's CPU dry run: it measures every batch size, with and without a per-step sync."""

from __future__ import annotations

import json
from pathlib import Path

from services.bench.gpu_probe import main


def test_gpu_probe_dry_run_reports_each_batch_size(tmp_path: Path) -> None:
    out = tmp_path / "probe.json"
    body = main(
        ["--tiny", "--device", "cpu", "--batches", "2,4", "--seq", "16", "--steps", "2", "--json", str(out)]
    )
    assert json.loads(out.read_text()) == body
    assert [(r["batch"], r["sync_each_step"]) for r in body["runs"]] == [
        (2, True), (2, False), (4, True), (4, False)
    ]  # fmt: skip
    assert all(r["offers_per_s"] > 0 and r["gpu_peak_gib"] is None for r in body["runs"])
