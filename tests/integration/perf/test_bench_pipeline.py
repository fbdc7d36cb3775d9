"""``catalog bench pipeline`` and ``catalog bench live`` as users run them: real worker
processes on a private redis-server, SQLite, the millisecond model repository of the unit tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.inference.repo_fixture import build_repository, write_fusion

CATALOG = [sys.executable, "-m", "services.cli.main"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    repo = tmp_path / "repo"
    write_fusion(repo, build_repository(repo))
    return {
        **os.environ,
        "CATALOG_MODEL_REPOSITORY": str(repo),
        "CATALOG_TRANSLATOR": "none",
        "CATALOG_BATCH_SIZE": "8",
    }


def test_bench_pipeline_measures_pipeline_limit_and_naive(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "pipeline.json"
    run = subprocess.run(
        [
            *CATALOG,
            "bench",
            "pipeline",
            "--listings",
            "24",
            "--naive-offers",
            "4",
            "--replicas",
            "text-encoder=2",
            "--json",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    body = json.loads(out.read_text())
    assert body["stored"] == 24 and body["replicas"]["text-encoder"] == 2
    for key in ("throughput", "limit_throughput", "naive_throughput"):
        assert body[key] > 0
    assert body["ratio_to_limit"] == pytest.approx(body["throughput"] / body["limit_throughput"], rel=0.01)
    assert set(body["latency_ms"]) >= {"language", "text_encoder", "image_encoder", "fusion", "end_to_end"}
    e2e = body["latency_ms"]["end_to_end"]
    assert 0 < e2e["p50"] <= e2e["p95"] <= e2e["p99"]
    assert {"text-encoder-1", "text-encoder-2", "writer-1"} <= set(body["peak_rss_mb"])
    assert body["machine"]["cpu_count"] >= 1


def test_bench_live_measures_idle_and_loaded(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "live.json"
    run = subprocess.run(
        [
            *CATALOG,
            "bench",
            "live",
            "--listings",
            "80",
            "--live",
            "3",
            "--interval",
            "0.05",
            "--max-in-flight",
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
    body = json.loads(out.read_text())
    for phase in ("idle", "under_bulk"):
        assert body[phase]["stored"] == 3 and body[phase]["latency_ms"]["p99"] > 0
        assert body[phase]["p99_rank_from_slowest"] == 1  # 3 offers: p99 is the slowest one
        slowest = body[phase]["slowest_offers_stages_ms"]
        assert len(slowest) == 3 and slowest[0]["end_to_end"] >= slowest[-1]["end_to_end"] > 0
    assert body["p99_ratio"] > 0 and body["bulk_offers_per_s"] >= 0
