"""``catalog demo``: the whole job end to end on embedded defaults (services/demo), and its hidden
``demo-train`` (the background training run the demo starts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from services.demo.run import DemoOptions, run_demo
from services.demo.training import DEMO_CATALOG_SIZES, run_background_training
from shared.config import get_settings
from shared.logging import configure_logging

console = Console(stderr=True)


def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Exit once the sample is classified instead of serving.")
    ] = False,
    wait_for_default: Annotated[
        bool,
        typer.Option(
            "--wait-for-default",
            help="With --once: also train the default profile in the background and exit once the "
            "sample is classified by it.",
        ),
    ] = False,
    n: Annotated[int, typer.Option("--n", help="Synthetic offers to ingest.", min=1)] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the ingested sample.")] = 2026,
    profile: Annotated[
        str, typer.Option(help="The model trained in the background (default; tiny or quick in tests).")
    ] = "default",
    train_size: Annotated[
        int | None,
        typer.Option(help="Synthetic training offers of that model (default: per profile).", min=50),
    ] = None,
    first_profile: Annotated[
        str, typer.Option(help="The fast first model served while the other trains.")
    ] = "quick",
    first_train_size: Annotated[
        int | None,
        typer.Option(help="Synthetic training offers of the first model (default: per profile).", min=50),
    ] = None,
    translator: Annotated[
        str, typer.Option(help="Translation provider for the demo's workers (offline machines: none).")
    ] = "none",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every prediction.")] = 900.0,
) -> None:
    """The main job end to end on embedded defaults (embedded Redis, SQLite, local inference).

    With no model in CATALOG_MODEL_REPOSITORY, trains a fast first model (quick profile), starts
    every worker and the API, ingests a synthetic sample, prints results with weighted F1 and the
    dashboard URL; then trains the default profile in the background (progress in the terminal
    and on the dashboard), and the workers switch to it by themselves. Ctrl-C stops (or --once).
    """
    from training.profiles import PROFILES

    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    for name in (profile, first_profile):
        if name not in PROFILES:
            raise typer.BadParameter(f"profiles are {', '.join(sorted(PROFILES))}")
    options = DemoOptions(
        n=n,
        seed=seed,
        profile=profile,
        train_size=train_size or DEMO_CATALOG_SIZES.get(profile, 6000),
        first_profile=first_profile,
        first_train_size=first_train_size or DEMO_CATALOG_SIZES.get(first_profile, 1000),
        wait_timeout_s=timeout,
        translator=translator,
    )
    result = run_demo(settings, options, once=once, wait_for_default=wait_for_default)
    if result.predicted < result.submitted:
        console.print(
            f"[red]{result.submitted - result.predicted} offers got no prediction in time[/red]; "
            "see `catalog status` and `catalog dlq list`"
        )
        raise typer.Exit(1)


def demo_train(
    profile: Annotated[str, typer.Option(help="Profile to train.")] = "default",
    data: Annotated[Path, typer.Option("--data", help="Synthetic catalog (generated when absent).")] = Path(
        "var/demo/train"
    ),
    size: Annotated[int, typer.Option(help="Offers to synthesize when --data is absent.", min=50)] = 6000,
    slowdown: Annotated[
        float, typer.Option(help="This machine's speed vs the measured one, until a stage finishes.")
    ] = 1.0,
) -> None:
    """The demo's background training (started by `catalog demo`): progress under the var dir."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    manifest = run_background_training(settings, profile, data, size, slowdown)
    console.print(f"published {manifest.version} in {settings.model_repository}")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("demo-train", hidden=True)(demo_train)
