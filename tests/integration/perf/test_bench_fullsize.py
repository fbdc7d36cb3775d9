"""``catalog bench fullsize`` at a tiny scale, as users run it: a tiled catalog, real worker
processes on a private redis-server, a scratch PostgreSQL database, the real ``catalog ingest``
process, a reclassification job whose runner is SIGKILLed mid-job and started again."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from services.bench.fullsize_catalog import real_counts, tile_catalog
from tests.unit.inference.repo_fixture import build_repository, write_fusion

CATALOG = [sys.executable, "-m", "services.cli.main"]


def test_tiled_catalog_has_the_real_shares_and_a_photo_per_drawn_one(
    synthetic_catalog: Path, tmp_path: Path
) -> None:
    manifest = tile_catalog(synthetic_catalog, tmp_path / "tiled", 500, seed=3)
    with (tmp_path / "tiled" / "Y_train_CVw08PX.csv").open() as handle:
        labels = Counter(int(row["prdtypecode"]) for row in csv.DictReader(handle))
    assert labels == Counter({k: v for k, v in real_counts(500).items() if v})
    assert sum(real_counts(500).values()) == 500 and sum(real_counts().values()) == 84_916
    assert manifest["offers"] == 500 and manifest["photo_size"] == [500, 500]
    photos = list((tmp_path / "tiled" / "images" / "image_train").iterdir())
    assert len(photos) == manifest["photos"] > 400  # the synthesizer's missing photos stay missing
    assert manifest["class_counts_are_the_challenges"] is False


def test_bench_fullsize_ingests_and_reclassifies_every_listing_once_across_a_kill(
    synthetic_catalog: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    write_fusion(repo, build_repository(repo))
    env = {
        **os.environ,
        "CATALOG_MODEL_REPOSITORY": str(repo),
        "CATALOG_TRANSLATOR": "none",
        "CATALOG_BATCH_SIZE": "8",
    }
    out = tmp_path / "fullsize.json"
    args = f"--base {synthetic_catalog} --work {tmp_path / 'work'} --json {out} --n 60 --limit-offers 16"
    args += " --max-in-flight 8 --kill-at 0.3 --lease 2 --sample-every 1"
    run = subprocess.run(
        [*CATALOG, "bench", "fullsize", *args.split()],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    body = json.loads(out.read_text())
    assert body["listings"] == 60 and body["dead_letters"] == 0
    for name in ("ingest_pass", "reclassify_pass"):
        p = body[name]
        assert (p["listings"], p["lost"], p["duplicated_listings"], p["extra_predictions"]) == (60, 0, 0, 0)
        assert p["predictions"] == 60 and p["throughput"] > 0
        assert p["cpu_ms_per_offer"] > 0 and p["cpu_s"]["writer-1"] > 0
    job = body["reclassify_pass"]
    assert job["job"]["status"] == "completed" and job["job"]["completed"] == 60
    kill = job["kill"]
    assert kill["signal"] == "SIGKILL" and 18 <= kill["at_completed"] < 60
    assert kill["resumed_by"] != kill["runner"]
    peaks = body["peak_rss_mib"]
    assert {"language-1", "fusion-1", "writer-1", "redis-server", "catalog ingest"} <= set(peaks)
    assert {"reclassify-1", "reclassify-1 (restarted)"} <= set(peaks)
    assert all(v and v > 0 for v in peaks.values())
    assert body["redis"]["used_memory_peak"] > 0 and body["samples"]
    assert len(body["limit"]["runs"]) == 2 and body["ratio_to_limit"]["reclassify"] > 0
    assert body["cpu_ratio_to_limit"]["ingest"] > 0 and body["cpu_ratio_to_limit"]["reclassify"] > 0
