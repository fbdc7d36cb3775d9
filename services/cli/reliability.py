"""Reliability commands: ``catalog reconcile`` (re-publish lost submissions) and ``catalog chaos``
(the fault-injection suite, docs/reliability.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from shared.config import get_settings
from shared.logging import configure_logging

console = Console(stderr=True)
out = Console()


def reconcile(
    once: Annotated[bool, typer.Option("--once", help="One pass, print its report, exit.")] = False,
    every: Annotated[
        float | None,
        typer.Option(
            "--every", help="Seconds between passes (default CATALOG_RECONCILE_INTERVAL_S).", min=0.1
        ),
    ] = None,
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than",
            help="Deadline in seconds after a submission's last publication "
            "(default CATALOG_RECONCILE_AFTER_S).",
            min=0.0,
        ),
    ] = None,
) -> None:
    """Re-publish submissions that have neither a prediction nor a dead letter after a deadline.

    Every publisher records its submissions in SQL first; this closes those with a prediction or
    a dead letter and re-publishes the overdue ones with their original submission id (stored
    once anyway: every effect is idempotent by that id). Serves
    `catalog_overdue_submissions` on CATALOG_METRICS_PORT when set.
    """
    from services.reconcile.reconciler import PassReport, run

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    deadline = settings.reconcile_after_s if older_than is None else older_than
    if once:
        report = asyncio.run(run(settings, None, deadline))
        out.print_json(json.dumps(report.as_dict()))
        return
    if settings.metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr=settings.metrics_host)

    def show(report: PassReport) -> None:
        if report.overdue or report.closed_dead:
            console.print(json.dumps(report.as_dict()))

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(settings, every or settings.reconcile_interval_s, deadline, on_pass=show))


def chaos(
    n: Annotated[int, typer.Option("--n", help="Submissions to push through the pipeline.", min=20)] = 2000,
    model_repository: Annotated[
        Path | None,
        typer.Option(help="Repository to serve (default CATALOG_MODEL_REPOSITORY; trained tiny if empty)."),
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Where logs, data and Redis files go (default: a temp dir).")
    ] = None,
    port_base: Annotated[int, typer.Option(help="First of the loopback ports the suite uses (10).")] = 18200,
    seed: Annotated[int, typer.Option(help="Seed of the offers and of the fault schedule.")] = 17,
    reconcile_after: Annotated[
        float, typer.Option(help="The reconciler's deadline (CATALOG_RECONCILE_AFTER_S) in the run.")
    ] = 60.0,
    timeout: Annotated[
        float, typer.Option(help="Seconds the run may take (after training and data generation).")
    ] = 1500.0,
    postgres_admin_url: Annotated[
        str, typer.Option(help="PostgreSQL admin URL (a scratch database is created next to it).")
    ] = "postgresql+psycopg://postgres@127.0.0.1:5432/test",
) -> None:
    """The fault-injection suite: the pipeline as separate processes on loopback, faults while
    offers flow, then SQL checks. Last line:
    `chaos: submitted=N stored=N duplicates=0 lost=0 dead_letters=K expected_dead=K`."""
    import signal

    from services.cli.chaos import ChaosOptions, run_chaos

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt  # so that every child is stopped on the way out

    signal.signal(signal.SIGTERM, interrupt)
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    options = ChaosOptions(
        n=n,
        model_repository=model_repository or settings.model_repository,
        workdir=workdir,
        port_base=port_base,
        seed=seed,
        timeout_s=timeout,
        postgres_admin_url=postgres_admin_url,
        triton_venv=settings.triton_venv,
        reconcile_after_s=reconcile_after,
    )
    ok = run_chaos(options, print_line=lambda line: print(line, flush=True))
    if not ok:
        raise typer.Exit(1)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.command("reconcile")(reconcile)
    app.command("chaos")(chaos)
