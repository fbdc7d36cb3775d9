"""The demo's background-training progress: the estimate from measured stage times, and the
progress file the trainer writes and the API serves."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.demo.training import ProgressReporter, estimate
from shared.ml.model_repo import LabelSpec, Manifest
from shared.ml.training_progress import progress_path, read_progress

EXPECTED = {"synth": 10.0, "text": 60.0, "image": 20.0, "fusion": 10.0}


def test_estimate_at_the_start_is_the_measured_total() -> None:
    fraction, left = estimate(EXPECTED, {}, "synth", 0.0)
    assert fraction == 0.0
    assert left == pytest.approx(100.0)


def test_a_slow_machine_stretches_what_is_left() -> None:
    # synth took twice its measured time: the rest is expected to take twice as long too.
    fraction, left = estimate(EXPECTED, {"synth": 20.0}, "text", 30.0)
    assert fraction == pytest.approx((10 + 60 * 0.25) / 100)
    assert left == pytest.approx((120 - 30) + 40 + 20)


def test_a_stage_running_over_its_estimate_never_reports_done() -> None:
    fraction, left = estimate(EXPECTED, {"synth": 10.0}, "text", 500.0)
    assert fraction < (10 + 60) / 100
    assert left is not None and left > 30.0


def test_reporter_writes_stages_then_the_published_version(tmp_path: Path) -> None:
    path = progress_path(tmp_path)
    assert read_progress(path) is None
    reporter = ProgressReporter(path, "default", log_file="train.log", expected=dict(EXPECTED))
    reporter.stage("text")
    running = read_progress(path)
    assert running is not None
    assert (running.state, running.stage, running.profile) == ("running", "text", "default")
    assert 0.0 <= running.fraction < 1.0 and running.eta_s is not None
    manifest = Manifest(
        version="r2-test",
        revision=2,
        created_at=datetime.now(UTC),
        labels=[LabelSpec(prdtypecode=10, name="Livres")],
        metrics={"fusion": {"weighted_f1": 0.89}, "models": {"text_bow": {}}},
    )
    reporter.published(manifest)
    done = read_progress(path)
    assert done is not None
    assert (done.state, done.version, done.fraction, done.eta_s) == ("published", "r2-test", 1.0, None)
    assert done.metrics == {"fusion": {"weighted_f1": 0.89}}


def test_reporter_records_a_failure(tmp_path: Path) -> None:
    reporter = ProgressReporter(progress_path(tmp_path), "default", expected=dict(EXPECTED))
    reporter.failed("ValueError: no data")
    snapshot = read_progress(progress_path(tmp_path))
    assert snapshot is not None and (snapshot.state, snapshot.error) == ("failed", "ValueError: no data")


def test_before_any_stage_finished_the_first_models_slowdown_is_used() -> None:
    _, left = estimate(EXPECTED, {}, "synth", 0.0, prior_slowdown=3.0)
    assert left == pytest.approx(300.0)
