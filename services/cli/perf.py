"""Performance commands: ``catalog bench pipeline`` and ``catalog bench live``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from services.cli.ops import _parse_replicas
from shared.config import get_settings
from shared.logging import configure_logging

console = Console(stderr=True)

JsonOut = Annotated[Path, typer.Option("--json", help="Where to write the JSON results.")]
Data = Annotated[
    Path | None, typer.Option(help="Catalog (challenge layout) to take offers from; default: synthetic.")
]
Backend = Annotated[str | None, typer.Option(help="local or triton (default CATALOG_INFERENCE_BACKEND).")]
Replicas = Annotated[
    list[str] | None, typer.Option("--replicas", help="KIND=N processes of a kind (repeatable).")
]
RedisUrl = Annotated[
    str | None, typer.Option(help="An empty Redis to use; default: a private redis-server started here.")
]
RedisPort = Annotated[
    int | None, typer.Option(help="Port of the private redis-server (default: a free one).")
]
DatabaseUrl = Annotated[
    str | None, typer.Option(help="An empty database; default: a SQLite file in a temp dir.")
]


def _settings(backend: str | None) -> Any:
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    if backend is not None:
        if backend not in ("local", "triton"):
            raise typer.BadParameter("expects local or triton", param_hint="--backend")
        settings = settings.model_copy(update={"inference_backend": backend})
    return settings


def _write(json_out: Path, body: dict[str, Any]) -> None:
    from services.cli.bench.output import write_results

    write_results(json_out, body, console)


def bench_pipeline(
    json_out: JsonOut,
    listings: Annotated[int, typer.Option(min=1, help="Offers to classify.")] = 2000,
    data: Data = None,
    backend: Backend = None,
    replicas: Replicas = None,
    limit_batch: Annotated[int, typer.Option(min=1, help="Batch of the in-process limit run.")] = 64,
    naive_offers: Annotated[int, typer.Option(min=1, help="Offers the naive way runs on.")] = 200,
    redis_url: RedisUrl = None,
    redis_port: RedisPort = None,
    database_url: DatabaseUrl = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every prediction.")] = 1800,
) -> None:
    """The pipeline as separate worker processes on a real Redis, against its limit (same models,
    one process, batched, no queue) and the naive way (one offer at a time), in one run."""
    from services.cli.bench.pipeline import run_bench

    settings = _settings(backend)
    counts = _parse_replicas(replicas or [])
    try:
        body = asyncio.run(
            run_bench(
                settings,
                data,
                listings,
                counts,
                limit_batch,
                naive_offers,
                redis_url,
                database_url,
                redis_port,
                timeout,
            )
        )
    except (FileNotFoundError, LookupError, ValueError, RuntimeError) as exc:
        console.print(f"[red]bench:[/red] {exc}")
        raise typer.Exit(2) from exc
    _write(json_out, body)


def bench_live(
    json_out: JsonOut,
    listings: Annotated[int, typer.Option(min=1, help="Stored offers the bulk job reclassifies.")] = 1000,
    live: Annotated[int, typer.Option(min=1, help="Live offers measured per phase.")] = 40,
    interval: Annotated[float, typer.Option(help="Seconds between two live offers.")] = 0.25,
    max_in_flight: Annotated[int, typer.Option(min=1, help="The bulk job's throttle.")] = 256,
    data: Data = None,
    backend: Backend = None,
    replicas: Replicas = None,
    redis_url: RedisUrl = None,
    redis_port: RedisPort = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Live-offer latency (p50/p99) on an idle pipeline, then while a bulk reclassification keeps
    it saturated (throttled by --max-in-flight)."""
    from services.cli.bench.live import run_bench

    settings = _settings(backend)
    counts = _parse_replicas(replicas or [])
    try:
        body = asyncio.run(
            run_bench(
                settings,
                data,
                listings,
                live,
                interval,
                max_in_flight,
                counts,
                redis_url,
                database_url,
                redis_port,
            )
        )
    except (FileNotFoundError, LookupError, ValueError, RuntimeError) as exc:
        console.print(f"[red]bench:[/red] {exc}")
        raise typer.Exit(2) from exc
    _write(json_out, body)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    bench_app.command("pipeline")(bench_pipeline)
    bench_app.command("live")(bench_live)
