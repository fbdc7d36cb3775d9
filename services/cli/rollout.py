"""``catalog rollout``: the one process that loads and unloads model versions on Triton.

Run it once after a training run (``catalog rollout``), or as a small controller beside Triton
(``catalog rollout --watch``: compose's ``rollout`` service, the ``model-rollout`` Deployment).
Encoder workers only check readiness and switch to a new revision once it is served.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated

import typer
from rich.console import Console

from shared.config import Settings, get_settings
from shared.logging import configure_logging

console = Console(stderr=True)
log = logging.getLogger(__name__)


async def _run(settings: Settings, keep: int, watch: bool, rollback_to: int | None) -> None:
    from shared.inference.rollout import TritonControl, reconcile
    from shared.inference.rollout import watch as watch_forever
    from shared.model_repo import publish_manifest, read_manifest

    repository = settings.model_repository
    control = TritonControl(settings.triton_url)
    try:
        if rollback_to is not None:
            # An older revision becomes current again; reconcile serves it (the newest N stay
            # loaded too, so events pinned to them finish). Workers switch once it is served.
            publish_manifest(repository, read_manifest(repository, rollback_to))
            console.print(f"revision {rollback_to} is current again")
        if watch:  # every poll interval, so a restarted Triton gets its versions back
            await watch_forever(
                control,
                repository,
                keep,
                settings.model_poll_interval_s,
                lambda report: print(json.dumps(report), flush=True),
            )
        else:
            report = await reconcile(control, repository, keep)
            print(json.dumps(report.as_dict()), flush=True)
    finally:
        await control.close()


def rollout(
    keep: Annotated[
        int | None, typer.Option(min=1, help="Revisions kept loaded (default CATALOG_MODEL_KEEP_REVISIONS).")
    ] = None,
    watch: Annotated[
        bool,
        typer.Option(
            help="Keep running: reconcile every CATALOG_MODEL_POLL_INTERVAL_S (a new manifest, a "
            "restarted Triton); failed passes are retried."
        ),
    ] = False,
    rollback_to: Annotated[
        int | None, typer.Option(help="Make this older revision current again, then reconcile.")
    ] = None,
) -> None:
    """Load the newest revisions' model versions on Triton, unload older ones (version_policy)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(_run(settings, keep or settings.model_keep_revisions, watch, rollback_to))
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc)) from exc
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.command("rollout")(rollout)
