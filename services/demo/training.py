"""The demo's models: the fast first model, the background run of the real one, and publishing.

``catalog demo`` first serves a fast model (profile ``quick``, timings in README), then trains the
default profile in a separate, niced process (``catalog demo-train``) that reports its progress to
``shared.ml.training_progress`` (read by the terminal and by ``GET /v1/training`` for the
dashboard). Running workers poll the manifest and switch to the new revision by themselves.

Every model the demo makes current goes through :func:`publish_model`, which promotes through
the same gate as ``catalog promote`` (training.held_out.promote_through_gate).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from shared.config import Settings
from shared.lifecycle.promotion import GateRefused
from shared.lifecycle.state import LifecycleError
from shared.ml.model_repo import Manifest, publish_manifest
from shared.ml.training_progress import TrainingProgress, progress_path, write_progress

STAGES = ("synth", "text", "image", "fusion", "evaluate")

# Measured stage durations in seconds (wall), used for the printed estimates and the progress
# bar; ``synth`` is the synthetic catalog the profile trains on (DEMO_CATALOG_SIZES offers).
# default: docs/benchmarks/training.md, 2026-11-25, idle development machine (2 cores, 24 GiB):
#   text 340 s (MiniLM + text_bow), image 119 s, fusion 32 s, evaluate 12 s; synth: 6,000 offers
#   in 44 CPU-seconds (docs/benchmarks/synth.md).
# quick: `catalog demo` on the same machine, 2026-11-30, shared with other engineers' jobs (load
#   average 17-23 on 2 cores): 600 offers synthesized in 94 s, text 53 s, image 164 s, fusion
#   30 s, evaluate 15 s (README, "First run").
# tiny: a rough figure (tests only).
MEASURED_STAGE_S: dict[str, dict[str, float]] = {
    # On an idle 2-core machine: `catalog train --profile default` on 6,000 offers (2026-12-01,
    # docs/benchmarks/training.md) and the demo's first (quick) model on 600 (2026-11-30).
    "default": {"synth": 56.0, "text": 143.0, "image": 573.0, "fusion": 72.0, "evaluate": 15.0},
    "quick": {"synth": 6.0, "text": 3.3, "image": 3.6, "fusion": 6.9, "evaluate": 1.5},
    "tiny": {"synth": 15.0, "text": 15.0, "image": 5.0, "fusion": 3.0, "evaluate": 3.0},
}
MEASURED_ON = {
    "default": "an idle 2-core machine",
    "quick": "an idle 2-core machine",
    "tiny": "a 2-core machine",
}
# Synthetic training offers per profile when the demo trains it.
DEMO_CATALOG_SIZES = {"default": 6000, "quick": 600, "tiny": 300}
# The background trainer runs at this niceness: the live pipeline keeps its CPU.
TRAINER_NICE = 5

log = logging.getLogger(__name__)


def publish_model(settings: Settings, manifest: Manifest) -> bool:
    """Publish ``manifest`` and make it current through the promotion gate (workers follow it).

    The demo's only way of making a model current, for the first model (current at once: the
    repository has none) and the background one (a candidate, promoted through the gate of
    ``catalog promote``: held-out re-scoring, the settings' tolerances and database). Returns
    whether it is current.
    """
    from services.cli.wiring import serving_preparer_for
    from training.held_out import promote_through_gate

    if publish_manifest(settings.model_repository, manifest):
        return True
    gate = partial(
        promote_through_gate,
        settings,
        manifest.version,
        by="catalog demo",
        reason="background default model",
        preparer_for=serving_preparer_for(settings),
    )
    try:
        gate(force=False)
    except GateRefused as exc:
        # The demo shows the hand-over on a small sample, where held-out F1 is noisy: it goes
        # ahead, and the lifecycle log records that the gate was overridden and why.
        log.warning(
            "promotion gate refused the background model; the demo overrides it", extra={"why": str(exc)}
        )
        gate(force=True)
    except LifecycleError as exc:
        log.warning("background model not promoted", extra={"version": manifest.version, "why": str(exc)})
        return False
    return True


def measured_total_s(profile: str) -> float:
    return sum(MEASURED_STAGE_S.get(profile, MEASURED_STAGE_S["default"]).values())


def measured_note(profile: str) -> str:
    """'about N min on <machine>' for the printed estimates."""
    seconds = measured_total_s(profile)
    span = f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
    return f"measured about {span} on {MEASURED_ON.get(profile, 'a 2-core machine')}"


def slowdown_of(manifest: Manifest) -> float | None:
    """How much slower than measured this machine trained ``manifest`` (None: unknown)."""
    name = manifest.training.get("profile", {}).get("name")
    timings = manifest.training.get("timings", {})
    measured = MEASURED_STAGE_S.get(str(name))
    if not measured or not timings.get("total_s"):
        return None
    planned = sum(v for k, v in measured.items() if k != "synth")
    return float(timings["total_s"]) / planned if planned else None


def estimate(
    expected: dict[str, float],
    finished: dict[str, float],
    current: str | None,
    in_stage_s: float,
    prior_slowdown: float = 1.0,
) -> tuple[float, float | None]:
    """(fraction done, seconds left) from measured stage times, scaled by how slow this run is.

    ``finished`` holds the actual durations of the finished stages: their ratio to the measured
    ones (a busy machine is slower) scales the estimate of what is left; before any stage
    finished, ``prior_slowdown`` (e.g. from the demo's first model) does.
    """
    total = sum(expected.values()) or 1.0
    planned = sum(expected.get(s, 0.0) for s in finished)
    slowdown = max(0.1, sum(finished.values()) / planned if planned > 0 else prior_slowdown)
    done = planned
    left = 0.0
    seen_current = False
    for name, seconds in expected.items():
        if name in finished:
            continue
        if name == current and not seen_current:
            seen_current = True
            stage_s = seconds * slowdown
            share = min(in_stage_s / stage_s, 0.95) if stage_s > 0 else 0.95
            done += seconds * share
            left += max(stage_s - in_stage_s, 0.05 * stage_s)
        else:
            left += seconds * slowdown
    return min(done / total, 1.0), left


@dataclass
class ProgressReporter:
    """Writes the trainer's progress file when a stage starts and every few seconds."""

    path: Path
    profile: str
    log_file: str | None = None
    interval_s: float = 2.0
    prior_slowdown: float = 1.0
    expected: dict[str, float] = field(default_factory=dict)
    _finished: dict[str, float] = field(default_factory=dict)
    _stage: str = "synth"
    _stage_started: float = 0.0
    _started: float = 0.0
    _started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.expected = self.expected or dict(MEASURED_STAGE_S.get(self.profile, MEASURED_STAGE_S["default"]))
        self._started = self._stage_started = time.monotonic()

    def start(self) -> None:
        self._write("running")
        threading.Thread(target=self._tick, name="progress", daemon=True).start()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._write("running")

    def stage(self, name: str) -> None:
        now = time.monotonic()
        if self._stage in self.expected:
            self._finished[self._stage] = now - self._stage_started
        self._stage, self._stage_started = name, now
        self._write("running")

    def published(self, manifest: Manifest) -> None:
        self._stop.set()
        metrics: dict[str, object] = {
            k: manifest.metrics[k] for k in ("fusion", "modalities") if k in manifest.metrics
        }
        self._write("published", version=manifest.version, metrics=metrics)

    def failed(self, error: str) -> None:
        self._stop.set()
        self._write("failed", error=error)

    def _write(
        self,
        state: str,
        version: str | None = None,
        metrics: dict[str, object] | None = None,
        error: str | None = None,
    ) -> None:
        now = time.monotonic()
        if state == "running":
            fraction, eta = estimate(
                self.expected, self._finished, self._stage, now - self._stage_started, self.prior_slowdown
            )
        else:
            fraction, eta = (1.0 if state == "published" else 0.0), None
        write_progress(
            self.path,
            TrainingProgress(
                state=state,  # type: ignore[arg-type]
                profile=self.profile,
                stage=self._stage if state == "running" else state,
                fraction=round(fraction, 4),
                started_at=self._started_at,
                updated_at=datetime.now(UTC),
                elapsed_s=round(now - self._started, 1),
                eta_s=None if eta is None else round(eta, 1),
                version=version,
                metrics=metrics or {},
                error=error,
                log_file=self.log_file,
                pid=os.getpid(),
            ),
        )


def train_demo_model(
    settings: Settings,
    data_dir: Path,
    profile: str,
    on_stage: Callable[[str], None] | None = None,
) -> Manifest:
    """Train ``profile`` on ``data_dir`` into the settings' repository and publish it through
    :func:`publish_model`."""
    from training.pipeline import TrainRequest, train
    from training.profiles import DEFAULT_IMAGE_BASE, get_profile, text_bases_for

    manifest = train(
        TrainRequest(
            data_dir=data_dir,
            out=settings.model_repository,
            text_bases=text_bases_for(profile),
            image_bases=[DEFAULT_IMAGE_BASE],
            profile=get_profile(profile),
            instance_kind="KIND_CPU",
            max_pixels=settings.image_max_pixels,
            publish=False,
            on_stage=on_stage,
        )
    )
    publish_model(settings, manifest)
    return manifest


def run_background_training(
    settings: Settings, profile: str, data_dir: Path, size: int, slowdown: float = 1.0
) -> Manifest:
    """The body of ``catalog demo-train``: synthesize, train, publish, reporting progress."""
    from training.synth import generate_catalog

    os.nice(TRAINER_NICE)
    log_file = str(trainer_log(settings.var_dir))
    reporter = ProgressReporter(
        progress_path(settings.var_dir), profile, log_file=log_file, prior_slowdown=slowdown
    )
    reporter.start()
    try:
        if not (data_dir / "Y_train_CVw08PX.csv").is_file():
            generate_catalog(data_dir, size, seed=1)
        manifest = train_demo_model(settings, data_dir, profile, on_stage=reporter.stage)
    except BaseException as exc:
        reporter.failed(f"{type(exc).__name__}: {exc}")
        raise
    reporter.published(manifest)
    return manifest


def trainer_log(var_dir: Path) -> Path:
    return progress_path(var_dir).parent / "train.log"


def start_background_training(
    var_dir: Path, profile: str, data_dir: Path, size: int, env: dict[str, str], slowdown: float | None = None
) -> subprocess.Popen[bytes]:
    """``catalog demo-train`` as a child process (it lowers its own priority) logging to the var dir."""
    log_path = trainer_log(var_dir)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    progress_path(var_dir).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "services.cli.main", "demo-train", "--profile", profile]
    cmd += ["--data", str(data_dir), "--size", str(size), "--slowdown", f"{slowdown or 1.0:.3f}"]
    with log_path.open("ab") as log:
        return subprocess.Popen(
            cmd,
            env={**env, "CATALOG_LOG_FORMAT": "console", "CATALOG_LOG_LEVEL": "INFO"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
