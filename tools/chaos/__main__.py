"""``python -m tools.chaos --n N`` (``make chaos``): the fault-injection suite on the whole
pipeline (docs/reliability.md). A development tool: it needs the repository's checkout, the
machine's Redis 7, PostgreSQL and the local Triton environment (``make triton-env``)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

from shared.config import get_settings
from shared.logging import configure_logging
from tools.chaos.suite import ChaosOptions, run_chaos


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


if __name__ == "__main__":
    typer.run(chaos)
