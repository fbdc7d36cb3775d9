"""``catalog reconcile``: re-publish lost submissions (docs/reliability.md; the fault-injection
suite is a development tool: ``python -m tools.chaos``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated

import typer
from prometheus_client import start_http_server
from rich.console import Console

from services.reconciler.reconciler import PassReport, run
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
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    deadline = settings.reconcile_after_s if older_than is None else older_than
    if once:
        report = asyncio.run(run(settings, None, deadline))
        out.print_json(json.dumps(report.as_dict()))
        return
    if settings.metrics_port is not None:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)

    def show(report: PassReport) -> None:
        if report.overdue or report.closed_dead:
            console.print(json.dumps(report.as_dict()))

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(settings, every or settings.reconcile_interval_s, deadline, on_pass=show))


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile)
