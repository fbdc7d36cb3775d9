"""``catalog demo``: the main job end to end on embedded defaults.

Trains a model on a synthetic catalog when the repository has none, starts every worker and the
API under the supervisor (embedded Redis, SQLite, local inference unless configured otherwise),
ingests a fresh synthetic sample, waits for its predictions and reports them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from services.cli.supervisor import ProcessSpec, Supervisor
from shared.config import Settings
from shared.progress import progress_bar

log = logging.getLogger(__name__)
console = Console()


@dataclass(frozen=True)
class DemoOptions:
    n: int = 300
    seed: int = 2026
    train_size: int = 6000
    profile: str = "default"
    wait_timeout_s: float = 900.0
    translator: str = "none"


@dataclass(frozen=True)
class DemoResult:
    submitted: int
    predicted: int
    weighted_f1: float | None
    accuracy: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    dashboard_url: str


def ensure_model(settings: Settings, options: DemoOptions) -> None:
    """Train the demo's model on a synthetic catalog unless the repository already has one."""
    from shared.model_repo import read_manifest

    try:
        manifest = read_manifest(settings.model_repository)
        console.print(f"model repository: {settings.model_repository} ({manifest.version})")
        return
    except FileNotFoundError:
        pass
    train_dir = settings.var_dir / "demo" / f"train-{options.train_size}"
    synthesize(train_dir, options.train_size, seed=1, label="synthetic training catalog")
    console.print(
        f"training the [bold]{options.profile}[/bold] profile into {settings.model_repository} "
        "(the default profile takes about half an hour on 2 cores)"
    )
    from training.pipeline import TrainRequest, train
    from training.profiles import DEFAULT_IMAGE_BASE, DEFAULT_TEXT_BASES, get_profile

    train(
        TrainRequest(
            data_dir=train_dir,
            out=settings.model_repository,
            text_bases=list(DEFAULT_TEXT_BASES),
            image_bases=[DEFAULT_IMAGE_BASE],
            profile=get_profile(options.profile),
            instance_kind="KIND_CPU",
            max_pixels=settings.image_max_pixels,
        )
    )


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


def run_demo(settings: Settings, options: DemoOptions, once: bool) -> DemoResult:
    from shared.db.session import upgrade

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    ensure_model(settings, options)
    sample_dir = synthesize(
        settings.var_dir / "demo" / f"sample-{options.seed}-{options.n}",
        options.n,
        seed=options.seed,
        label="synthetic offers to ingest",
    )
    supervisor = Supervisor(
        settings,
        [
            ProcessSpec(kind, ["worker", kind])
            for kind in ("language", "image-encoder", "text-encoder", "fusion", "writer")
        ]
        + [ProcessSpec("api", ["api", "--host", settings.api_host, "--port", str(settings.api_port)])],
        extra_env={
            "CATALOG_TRANSLATOR": options.translator,
            "CATALOG_IMAGE_ROOTS": json.dumps([str(sample_dir.resolve())]),
            "CATALOG_LOG_LEVEL": "WARNING",
            # The local demo's dashboard and classify form work without a token, unless the
            # operator configured one; anything else must set CATALOG_API_AUTH=off explicitly.
            **({} if settings.api_token else {"CATALOG_API_AUTH": "off"}),
        },
    )
    dashboard = f"http://{settings.api_host}:{settings.api_port}/dashboard"
    supervisor.start_all()
    try:
        if not wait_http(f"http://{settings.api_host}:{settings.api_port}/health", 120):
            console.print("[yellow]the API did not answer within 120 s; continuing[/yellow]")
        result = ingest_and_wait(settings, sample_dir, options, supervisor, dashboard)
        report(result, settings)
        if not once:
            console.print(f"serving the dashboard at [bold]{dashboard}[/bold]; Ctrl-C stops")
            supervisor.run_forever(started=True)
        return result
    finally:
        supervisor.stop_all()


def ingest_and_wait(
    settings: Settings, sample_dir: Path, options: DemoOptions, supervisor: Supervisor, dashboard: str
) -> DemoResult:
    from services.api.ingest import fetch_predictions, publish_offers, read_offers, weighted_f1

    offers = read_offers(sample_dir)
    events = [o.event for o in offers]
    with progress_bar(console=console) as progress:
        task = progress.add_task("publishing offers", total=len(events))
        asyncio.run(publish_offers(settings, events, progress=lambda k: progress.advance(task, k)))
        waiting = progress.add_task("waiting for predictions", total=len(events))
        deadline = time.monotonic() + options.wait_timeout_s
        predicted: dict[Any, int] = {}
        ids = [e.submission_id for e in events]
        while len(predicted) < len(ids) and time.monotonic() < deadline:
            supervisor.poll()
            missing = [sid for sid in ids if sid not in predicted]
            predicted.update(fetch_predictions(settings.effective_database_url, missing))
            progress.update(waiting, completed=len(predicted))
            time.sleep(0.5)
    labelled = [
        (o.label, predicted[o.event.submission_id])
        for o in offers
        if o.label is not None and o.event.submission_id in predicted
    ]
    accuracy = sum(a == b for a, b in labelled) / len(labelled) if labelled else None
    p50, p95 = latency_percentiles(settings, ids)
    return DemoResult(
        submitted=len(events),
        predicted=len(predicted),
        weighted_f1=weighted_f1(offers, predicted),
        accuracy=accuracy,
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        dashboard_url=dashboard,
    )


def latency_percentiles(settings: Settings, ids: list[Any]) -> tuple[float | None, float | None]:
    """Submitted -> classified latency of the demo's predictions."""
    from sqlalchemy import select

    from shared.db.models import Prediction
    from shared.db.session import session_scope

    with session_scope(settings.effective_database_url) as session:
        rows = session.execute(
            select(Prediction.submitted_at, Prediction.classified_at).where(Prediction.submission_id.in_(ids))
        ).all()
    lat = sorted((c - s).total_seconds() * 1000 for s, c in rows if s is not None and c is not None)
    if not lat:
        return None, None
    return statistics.median(lat), lat[min(len(lat) - 1, int(0.95 * len(lat)))]


def report(result: DemoResult, settings: Settings) -> None:
    from sqlalchemy import func, select

    from shared.db.models import Category, Prediction
    from shared.db.session import session_scope

    with session_scope(settings.effective_database_url) as session:
        rows = session.execute(
            select(Category.prdtypecode, Category.label, func.count(Prediction.id))
            .join(Prediction, Prediction.prdtypecode == Category.prdtypecode)
            .group_by(Category.prdtypecode, Category.label)
            .order_by(func.count(Prediction.id).desc())
        ).all()
    table = Table(title="Predictions by category (all stored)")
    table.add_column("code", justify="right")
    table.add_column("category")
    table.add_column("predictions", justify="right")
    for code, label, count in rows:
        table.add_row(str(code), label, str(count))
    console.print(table)
    summary = Table(title="Demo run", show_header=False)
    summary.add_row("offers submitted", str(result.submitted))
    summary.add_row("predictions stored", str(result.predicted))
    summary.add_row("weighted F1", _fmt(result.weighted_f1))
    summary.add_row("accuracy", _fmt(result.accuracy))
    summary.add_row(
        "latency p50 / p95 (ms)", f"{_fmt(result.latency_p50_ms, 0)} / {_fmt(result.latency_p95_ms, 0)}"
    )
    summary.add_row("dashboard", result.dashboard_url)
    console.print(summary)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
