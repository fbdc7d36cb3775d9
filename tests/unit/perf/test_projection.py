"""The GPU-box projection's arithmetic (``catalog bench project``), on numbers chosen so each
figure can be checked by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.bench.projection import cpu_ms_per_offer, markdown, project, projections

PIPELINE = {
    "listings": 1000,
    "plumbing_ms_per_offer": {"language": 0.5, "fusion": 1.0, "writer": 0.5, "reclassify": 0.0, "total": 2.0},
    "limit_cpu_ms_per_offer": {"language": 0.25, "text-encoder": 9.0, "image-encoder": 9.0, "fusion": 0.25},
    "machine": {"load_average": [1.0, 1.0, 1.0]},
}
GPU = {
    "device_name": "a test GPU",
    "cpu_count": 10,
    "decode_workers": 10,
    "decode": {"draft_per_s": 5000.0},
    "images": [{"model": "small", "bare_per_s": 20000.0}, {"model": "big", "bare_per_s": 2000.0}],
    "texts": [{"model": "minilm", "bare_per_s": 80000.0, "tokenize_per_s": 40000.0}],
}


def test_cpu_per_offer_is_plumbing_cpu_models_decode_and_tokenizer() -> None:
    costs = cpu_ms_per_offer(PIPELINE, GPU, "minilm")
    assert costs == {
        "plumbing:language": 0.5,
        "plumbing:fusion": 1.0,
        "plumbing:writer": 0.5,
        "model:language": 0.25,
        "model:fusion": 0.25,
        "decode_photo": 2.0,  # 10 cores x 1000 ms / 5000 photos/s
        "tokenize_text": 0.25,  # 10 cores x 1000 ms / 40000 texts/s
    }  # the encoders' CPU models (9 ms) run on the GPU there: not counted


def test_the_catalog_takes_the_longer_of_the_cpu_and_the_gpu_time() -> None:
    small = project(PIPELINE, GPU, "small", "minilm", offers=100_000)
    assert small["cpu_ms_per_offer_total"] == 4.75
    assert small["plumbing_ms_per_offer"] == 2.0
    assert small["cpu_s"] == 47.5  # 100,000 x 4.75 ms / 10 cores
    assert small["gpu_s"] == 6.25  # 100,000 x (1/20,000 + 1/80,000) s
    assert (small["overlapped_s"], small["serial_s"], small["bound"]) == (47.5, 53.75, "cpu")
    assert small["offers_per_s"] == pytest.approx(2105.3)
    assert small["cores_to_feed_gpu"] == 76.0  # 4.75 ms x 16,000 offers/s
    big = project(PIPELINE, GPU, "big", "minilm", offers=100_000, cores=40)
    assert (big["cpu_s"], big["gpu_s"], big["bound"]) == (11.88, 51.25, "gpu")
    assert big["overlapped_s"] == 51.25


def test_an_unknown_model_is_named() -> None:
    with pytest.raises(LookupError, match="camembert"):
        project(PIPELINE, GPU, "small", "camembert")


def test_the_command_writes_json_and_the_table(tmp_path: Path) -> None:
    from services.bench.commands import bench_app

    (tmp_path / "p.json").write_text(json.dumps(PIPELINE))
    (tmp_path / "g.json").write_text(json.dumps(GPU))
    out = tmp_path / "projection.json"
    args = ["project", "--from", str(tmp_path / "p.json"), "--gpu", str(tmp_path / "g.json")]
    result = CliRunner().invoke(bench_app, [*args, "--offers", "100000", "--json", str(out)])
    assert result.exit_code == 0, result.output
    body = json.loads(out.read_text())
    assert [p["image_model"] for p in body["projections"]] == ["small", "big"]
    assert body == {**projections(PIPELINE, GPU, offers=100_000), "inputs": body["inputs"]}
    assert "| small (20,000/s) | minilm (80,000/s) | 4.75 (2.00) | 47.5 | 6.25 | **47.5** / 53.75 |" in (
        markdown(body)
    )
