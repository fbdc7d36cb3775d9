"""``catalog demo``: the main job end to end on embedded defaults.

A newcomer sees live predictions within minutes: when the repository has no model, a fast first
one (profile ``quick``) is trained on a small synthetic catalog; every worker and the API start
under the supervisor (embedded Redis, SQLite, local inference unless configured otherwise); a
synthetic sample is ingested and its predictions reported. Then the default profile trains in a
background process (services.demo.training) and, once published, the running workers switch
to it by themselves; the sample goes through again and is reported per model version.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from services.cli.progress import progress_bar
from services.cli.registry import WORKERS
from services.cli.supervisor import ProcessSpec, Supervisor
from services.demo.report import (
    DemoResult,
    fetch_versions,
    fmt,
    latency_percentiles,
    report,
    weighted_f1_of,
)
from services.demo.training import (
    measured_note,
    slowdown_of,
    start_background_training,
    train_demo_model,
)
from shared.config import Settings
from shared.ml.model_repo import Manifest

if TYPE_CHECKING:
    from services.api.ingest import Offer

log = logging.getLogger(__name__)
console = Console()


@dataclass(frozen=True)
class DemoOptions:
    n: int = 300
    seed: int = 2026
    profile: str = "default"
    train_size: int = 6000
    first_profile: str = "quick"
    first_train_size: int = 1000
    wait_timeout_s: float = 900.0
    translator: str = "none"


def profile_of(manifest: Manifest) -> str | None:
    """The training profile a manifest was trained with (None for foreign repositories)."""
    profile = manifest.training.get("profile")
    return profile.get("name") if isinstance(profile, dict) else None


def ensure_model(settings: Settings, options: DemoOptions) -> Manifest:
    """The current model, or a fast first one trained on a small synthetic catalog."""
    from shared.ml.model_repo import read_manifest

    try:
        manifest = read_manifest(settings.model_repository)
        console.print(f"model repository: {settings.model_repository} ({manifest.version})")
        return manifest
    except FileNotFoundError:
        pass
    profile = options.first_profile
    console.print(
        f"no model yet: training a first one (profile [bold]{profile}[/bold], "
        f"{options.first_train_size:,} synthetic offers; {measured_note(profile)}, see README)"
    )
    train_dir = settings.var_dir / "demo" / f"train-{options.first_train_size}"
    synthesize(train_dir, options.first_train_size, seed=1, label="synthetic training catalog")
    manifest = train_demo_model(settings, train_dir, profile)
    console.print(f"[green]published[/green] {manifest.version}: held-out F1 {_f1(manifest)}")
    return manifest


def synthesize(out: Path, n: int, seed: int, label: str) -> Path:
    """A synthetic catalog at ``out`` (reused when complete)."""
    from training.synth import generate_catalog

    if (out / "Y_train_CVw08PX.csv").is_file():
        return out
    with progress_bar(console=console) as progress:
        task = progress.add_task(label, total=n)
        generate_catalog(out, n, seed, progress=lambda k: progress.update(task, completed=k))
    return out


def wait_http(url: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def run_demo(
    settings: Settings, options: DemoOptions, once: bool, wait_for_default: bool = False
) -> DemoResult:
    """First model, pipeline, sample; then the background model (unless ``once`` without
    ``wait_for_default``), the sample again through it; then serve until Ctrl-C (unless ``once``)."""
    from services.api.ingest import read_offers
    from shared.db.session import upgrade

    signal.signal(signal.SIGTERM, _interrupt)  # stop the children too (the finally below)
    started = time.monotonic()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    sample_dir = settings.var_dir / "demo" / f"sample-{options.seed}-{options.n}"
    supervisor = Supervisor.for_settings(
        settings,
        [ProcessSpec(kind, ["worker", kind]) for kind in WORKERS]
        + [ProcessSpec("api", ["api", "--host", settings.api_host, "--port", str(settings.api_port)])],
        extra_env={
            "CATALOG_TRANSLATOR": options.translator,
            "CATALOG_IMAGE_ROOTS": json.dumps([str(sample_dir.resolve())]),
            "CATALOG_LOG_LEVEL": "WARNING",
            # The background model is picked up within seconds of its publication.
            "CATALOG_MODEL_POLL_INTERVAL_S": str(min(settings.model_poll_interval_s, 2.0)),
            # The local demo's dashboard and classify form work without a token, unless the
            # operator configured one; anything else must set CATALOG_API_AUTH=off explicitly.
            **({} if settings.api_token else {"CATALOG_API_AUTH": "off"}),
        },
    )
    dashboard = f"http://{settings.api_host}:{settings.api_port}/dashboard"
    health = f"http://{settings.api_host}:{settings.api_port}/health"
    trainer: subprocess.Popen[bytes] | None = None
    sampler: subprocess.Popen[bytes] | None = None
    try:
        # The dashboard and the sample's synthesis do not wait for the first model.
        supervisor.start_all(only={"api"})
        announce = threading.Thread(target=_announce, args=(health, dashboard, started), daemon=True)
        announce.start()
        sampler = _synthesize_in_background(sample_dir, options, supervisor.env)
        first = ensure_model(settings, options)
        if sampler is not None and sampler.wait() != 0:
            raise RuntimeError(f"synthesizing the sample into {sample_dir} failed")
        synthesize(sample_dir, options.n, seed=options.seed, label="synthetic offers to ingest")
        trained_with = profile_of(first)
        upgrade_model = trained_with not in (None, options.profile) and (wait_for_default or not once)
        supervisor.start_all()
        announce.join(timeout=120)
        if announce.is_alive():
            console.print("[yellow]the API did not answer within 120 s; continuing[/yellow]")
        offers = read_offers(sample_dir)
        result = ingest_and_wait(settings, offers, options, supervisor, dashboard, started=started)
        report(result, settings)
        if upgrade_model:
            trainer = start_background_training(
                settings.var_dir,
                options.profile,
                settings.var_dir / "demo" / f"train-{options.train_size}",
                options.train_size,
                supervisor.env,
                slowdown_of(first),
            )
            console.print(
                f"dashboard: [bold]{dashboard}[/bold] (serving {result.model_version}); training the "
                f"[bold]{options.profile}[/bold] profile in the background "
                f"({measured_note(options.profile)}; the estimate below adapts to this machine); "
                "the workers switch to it by themselves"
            )
            better = follow_training(trainer, settings, supervisor, options.profile)
            if better is not None:
                again = [_resubmitted(o) for o in offers]
                result = ingest_and_wait(
                    settings, again, options, supervisor, dashboard, version=better.version
                )
                report(result, settings)
        if not once:
            console.print(f"serving the dashboard at [bold]{dashboard}[/bold]; Ctrl-C stops")
            supervisor.run_forever(started=True)
        return result
    finally:
        for child in (sampler, trainer):
            if child is not None and child.poll() is None:
                child.terminate()
                child.wait(timeout=20)
        supervisor.stop_all()


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _announce(health: str, dashboard: str, started: float) -> None:
    """Print the dashboard's URL as soon as the API answers (while the first model trains)."""
    if wait_http(health, 300):
        elapsed = time.monotonic() - started
        console.print(f"dashboard answering at [bold]{dashboard}[/bold] ({elapsed:.0f} s after start)")


def _synthesize_in_background(
    sample_dir: Path, options: DemoOptions, env: dict[str, str]
) -> subprocess.Popen[bytes] | None:
    """``catalog synth`` of the sample as a child process (it runs while the first model trains)."""
    if (sample_dir / "Y_train_CVw08PX.csv").is_file():
        return None
    cmd = [sys.executable, "-m", "services.cli.main", "synth", "--quiet", "--out", str(sample_dir)]
    cmd += ["--n", str(options.n), "--seed", str(options.seed)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)


def follow_training(
    trainer: subprocess.Popen[bytes], settings: Settings, supervisor: Supervisor, profile: str
) -> Manifest | None:
    """Show the background run's progress file as a bar until it publishes (or fails)."""
    from shared.ml.model_repo import find_manifest_by_version
    from shared.ml.training_progress import progress_path, read_progress

    path = progress_path(settings.var_dir)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[note]}"),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(f"training {profile}", total=100, note="starting")
        while True:
            supervisor.poll()
            snapshot = read_progress(path)
            code = trainer.poll()
            if snapshot is not None:
                eta = "" if snapshot.eta_s is None else f", about {_minutes(snapshot.eta_s)} left"
                bar.update(task, completed=100 * snapshot.fraction, note=f"{snapshot.stage}{eta}")
                if snapshot.state == "published" and snapshot.version:
                    manifest = find_manifest_by_version(settings.model_repository, snapshot.version)
                    break
            if code is not None:
                log_file = path.parent / "train.log"
                console.print(f"[red]background training stopped (exit {code})[/red]; see {log_file}")
                return None
            time.sleep(1.0)
    console.print(
        f"[green]published[/green] {manifest.version} ({profile}): held-out F1 {_f1(manifest)}; "
        "the workers switch to it without a restart"
    )
    return manifest


def _resubmitted(offer: Offer) -> Offer:
    """The same offer as a fresh submission (new id, stamped now)."""
    from uuid import uuid4

    from shared.contract import utcnow

    event = offer.event.model_copy(update={"submission_id": uuid4(), "timestamps": {"submitted": utcnow()}})
    return replace(offer, event=event)


def ingest_and_wait(
    settings: Settings,
    offers: list[Offer],
    options: DemoOptions,
    supervisor: Supervisor,
    dashboard: str,
    version: str | None = None,
    started: float | None = None,
) -> DemoResult:
    """Publish ``offers`` and wait for their predictions; with ``version``, offers classified by
    another version (workers not switched yet) are submitted again until that version did."""
    from services.api.ingest import publish_offers

    current = list(offers)
    done: dict[int, tuple[int, str]] = {}
    label = "waiting for predictions" + (f" by {version}" if version else "")
    with progress_bar(console=console) as progress:
        task = progress.add_task("publishing offers", total=len(current))
        asyncio.run(
            publish_offers(settings, [o.event for o in current], progress=lambda k: progress.advance(task, k))
        )
        waiting = progress.add_task(label, total=len(current))
        deadline = time.monotonic() + options.wait_timeout_s
        while len(done) < len(current) and time.monotonic() < deadline:
            supervisor.poll()
            pending = [i for i in range(len(current)) if i not in done]
            ids = [current[i].event.submission_id for i in pending]
            found = fetch_versions(settings.effective_database_url, ids)
            stale = []
            for i in pending:
                hit = found.get(current[i].event.submission_id)
                if hit is not None and (version is None or hit[1] == version):
                    done[i] = hit
                elif hit is not None:
                    current[i] = _resubmitted(current[i])
                    stale.append(current[i].event)
            if stale:
                asyncio.run(publish_offers(settings, stale))
            if started is not None and done:
                console.print(f"first prediction stored {time.monotonic() - started:.0f} s after start")
                started = None
            progress.update(waiting, completed=len(done))
            time.sleep(0.5)
    labelled = [(current[i].label, code) for i, (code, _) in done.items() if current[i].label is not None]
    accuracy = sum(a == b for a, b in labelled) / len(labelled) if labelled else None
    p50, p95 = latency_percentiles(settings, [current[i].event.submission_id for i in done])
    versions = sorted({v for _, v in done.values()})
    return DemoResult(
        submitted=len(current),
        predicted=len(done),
        weighted_f1=weighted_f1_of(labelled),
        accuracy=accuracy,
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        dashboard_url=dashboard,
        model_version=", ".join(versions) or None,
    )


def _f1(manifest: Manifest) -> str:
    fusion = manifest.metrics.get("fusion")
    return fmt(fusion.get("weighted_f1") if isinstance(fusion, dict) else None, 3)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
