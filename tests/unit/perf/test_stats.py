"""The percentile and stage-span arithmetic of the pipeline benchmarks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.bench.stats import percentiles, stage_latencies

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_percentiles_nearest_rank_in_ms() -> None:
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert percentiles([]) == {}
    assert percentiles([0.2]) == {"p50": 200.0, "p95": 200.0, "p99": 200.0, "max": 200.0}


def test_stage_latencies_use_the_later_half_for_fusion() -> None:
    def at(ms: int) -> datetime:
        return T0 + timedelta(milliseconds=ms)

    row = {
        "submitted": at(0),
        "prepared": at(100),
        "image_encoded": at(400),
        "text_encoded": at(300),
        "classified": at(450),
        "written": at(500),
    }
    spans = stage_latencies([row])
    assert spans["language"]["p50"] == 100.0
    assert spans["text_encoder"]["p50"] == 200.0
    assert spans["image_encoder"]["p50"] == 400.0
    assert spans["fusion"]["p50"] == 50.0  # from the later half (image) to classified
    assert spans["writer"]["p50"] == 50.0
    assert spans["end_to_end"]["p50"] == 500.0
    assert "language" not in stage_latencies([{"submitted": at(0), "written": at(9)}])
