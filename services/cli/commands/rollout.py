"""``catalog rollout``: the one process that loads and unloads model versions on Triton.

Run it once after a training run (``catalog rollout``), or as a small controller beside Triton
(``catalog rollout --watch``: compose's ``rollout`` service, the ``model-rollout`` Deployment).
Encoder workers only check readiness and switch to a new revision once it is served. With
``--watch`` every pass writes a heartbeat that the liveness and readiness probes read
(:mod:`services.rollout.heartbeat`).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from services.rollout.controller import TritonControl, reconcile
from services.rollout.controller import watch as watch_forever
from services.rollout.heartbeat import HEARTBEAT_NAME
from shared.config import Settings, get_settings
from shared.lifecycle.state import LifecycleError, make_current
from shared.logging import configure_logging
from shared.ml.model_repo import read_manifest

console = Console(stderr=True)
log = logging.getLogger(__name__)


async def _run(settings: Settings, keep: int, watch: bool, rollback_to: int | None) -> None:
    repository = settings.model_repository
    if rollback_to is not None:
        roll_back_to_revision(repository, rollback_to)
    control = TritonControl(settings.triton_url)
    try:
        if watch:  # every poll interval, so a restarted Triton gets its versions back
            await watch_forever(
                control,
                repository,
                keep,
                settings.model_poll_interval_s,
                lambda report: print(json.dumps(report), flush=True),
                heartbeat=settings.var_dir
                / HEARTBEAT_NAME,  # the probes' (python -m services.rollout.heartbeat)
            )
        else:
            report = await reconcile(control, repository, keep)
            print(json.dumps(report.as_dict()), flush=True)
    finally:
        await control.close()


def roll_back_to_revision(repository: Path, revision: int) -> None:
    """Make an older revision current again, recorded in ``lifecycle.json`` like ``catalog
    rollback`` (reconcile then serves it; the newest N stay loaded too, so events pinned to them
    finish). Workers switch once it is served."""
    try:
        version = read_manifest(repository, revision).version
        make_current(repository, version, by=_who(), reason=f"catalog rollout --rollback-to {revision}",
                     action="rollback")  # fmt: skip
    except (FileNotFoundError, LifecycleError) as exc:
        raise typer.BadParameter(f"cannot roll back to revision {revision}: {exc}") from exc
    console.print(f"revision {revision} ({version}) is current again")


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


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


def register(app: typer.Typer) -> None:
    app.command("rollout")(rollout)
