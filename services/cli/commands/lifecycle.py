"""Model lifecycle commands: ``promote``, ``rollback``, ``shadow``, ``models``, ``drift``,
``export-labels``.

The logic lives in shared.lifecycle (``state``: current, shadow, history; ``promotion``: the gate;
``drift``), the labels in shared.db.quality and the held-out re-scoring in training.held_out.
"""

from __future__ import annotations

import csv
import getpass
import json
import re
import shutil
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlparse

import typer
from rich.console import Console
from rich.table import Table

from shared.config import Settings, get_settings
from shared.contract import utcnow
from shared.db.session import migrate, session_scope
from shared.lifecycle.drift import compute_drift
from shared.lifecycle.promotion import GateRefused
from shared.lifecycle.state import LifecycleError, read_state, rollback, set_shadow, statuses
from shared.ml.model_repo import list_manifests

console = Console(stderr=True)
out = Console()
By = Annotated[str | None, typer.Option("--by", help="Who makes the change (default: the OS user).")]
Reason = Annotated[str | None, typer.Option("--reason", help="Why (recorded in lifecycle.json).")]


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _database(settings: Settings) -> str:
    url = settings.effective_database_url
    migrate(url)
    return url


def run_promotion(
    settings: Settings, version: str, *, by: str | None, reason: str | None, force: bool
) -> int:
    """Gate + promotion with a printed report; the exit code (0 promoted, 3 refused, 2 error).

    When the two revisions' held-out splits differ, both are re-scored on their common held-out
    rows first (training/held_out.py); the gate compares those figures."""
    from services.cli.wiring import serving_preparer_for
    from training.held_out import promote_through_gate

    try:
        _database(settings)
        report, change = promote_through_gate(
            settings,
            version,
            by=_who(by),
            reason=reason,
            force=force,
            preparer_for=serving_preparer_for(settings),
        )
    except GateRefused as exc:
        console.print_json(json.dumps(exc.report, default=str))
        console.print(f"[red]refused:[/red] {exc}. Nothing changed; --force overrides (recorded).")
        return 3
    except LifecycleError as exc:
        console.print(f"[red]cannot promote:[/red] {exc}")
        return 2
    console.print_json(json.dumps(report, default=str))
    forced = " [yellow](forced past the gate)[/yellow]" if change.forced else ""
    console.print(f"[green]current:[/green] {change.version} by {change.by}{forced}")
    return 0


def promote_cmd(
    version: Annotated[str, typer.Argument(help="The revision's version string (see `catalog models`).")],
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the gate refuses (recorded).")
    ] = False,
    by: By = None,
    reason: Reason = None,
) -> None:
    """Make VERSION current if the promotion gate passes (held-out and corrected-listings weighted
    F1 not below the current one's beyond CATALOG_PROMOTION_TOLERANCE; held-out on the same rows:
    both revisions are re-scored on common held-out rows when their splits differ); prints the
    gate's report with the shadow agreement. Workers switch on their next poll."""
    raise typer.Exit(run_promotion(get_settings(), version, by=by, reason=reason, force=force))


def rollback_cmd(by: By = None, reason: Reason = None) -> None:
    """Return to the revision that was current before the present one."""
    try:
        change = rollback(get_settings().model_repository, by=_who(by), reason=reason)
    except LifecycleError as exc:
        console.print(f"[red]cannot roll back:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"[green]current:[/green] {change.version} (rolled back by {change.by})")


def shadow_cmd(
    version: Annotated[str | None, typer.Argument(help="The candidate to run in shadow.")] = None,
    share: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Share of live offers (default CATALOG_SHADOW_SHARE)."),
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop the shadow run.")] = False,
    by: By = None,
) -> None:
    """Run a candidate revision in shadow on a share of live offers (its predictions are stored,
    flagged shadow, never current), or stop it with --off."""
    settings = get_settings()
    if off == (version is not None):
        raise typer.BadParameter("give a VERSION or --off")
    try:
        config = set_shadow(settings.model_repository, version, share or settings.shadow_share, by=_who(by))
    except LifecycleError as exc:
        console.print(f"[red]cannot set the shadow:[/red] {exc}")
        raise typer.Exit(2) from exc
    if config is None:
        console.print("shadow run stopped")
    else:
        console.print(f"[green]shadow:[/green] {config.version} on {config.share:.0%} of live offers")


def models_cmd(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every published revision with its status (current, shadow, candidate, retired)."""
    repository = get_settings().model_repository
    status = statuses(repository)
    rows = [
        {
            "version": m.version,
            "revision": m.revision,
            "status": status.get(m.version, "candidate"),
            "held_out_weighted_f1": (m.metrics.get("fusion") or {}).get("weighted_f1"),
            "created_at": m.created_at.isoformat(),
        }
        for m in reversed(list_manifests(repository))
    ]
    if json_out:
        state = read_state(repository)
        out.print_json(json.dumps({"models": rows, "changes": state.model_dump(mode="json")["changes"]}))
        return
    table = Table("version", "revision", "status", "held-out wF1", "created")
    for r in rows:
        table.add_row(
            *(str(r[k]) for k in ("version", "revision", "status", "held_out_weighted_f1", "created_at"))
        )
    out.print(table)


def drift_cmd(
    window_s: Annotated[int | None, typer.Option(help="Window (default CATALOG_DRIFT_WINDOW_S).")] = None,
    windows: Annotated[int, typer.Option(min=1, max=48, help="Windows back.")] = 1,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the report here.")] = None,
) -> None:
    """Drift of recent live predictions of the current model (PSI per signal); exit code 1 on alert."""
    settings = get_settings()
    with session_scope(_database(settings)) as session:
        report = compute_drift(settings, session, window_s, windows)
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2))
    table = Table("signal", "PSI", "status", "reference", "n")
    for name, body in report["signals"].items():
        table.add_row(name, f"{body['psi']:.4f}", body["status"], body["reference"], str(body["n"]))
    out.print(table)
    out.print(f"score {report['score']} (alert at {report['thresholds']['alert']}): "
              f"{'ALERT' if report['alert'] else 'ok'}")  # fmt: skip
    if report["alert"]:
        raise typer.Exit(1)


_CHALLENGE_IMAGE = re.compile(r"image_(\d+)_product_[^/]*\.jpg$")
# A listing id that can be part of a photo's file name (ids may contain "/": not those).
_SAFE_NAME = re.compile(r"(?!\.\.?$)[^/\\\x00]+")


def _local_image(uri: str | None) -> Path | None:
    if not uri:
        return None
    parsed = urlparse(uri)
    path = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri) if not parsed.scheme else None
    return path if path is not None and path.is_file() else None


def export_labels(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write (challenge layout).")],
) -> None:
    """Write every reviewer-labelled listing in the challenge layout (X/Y CSVs + images/), the
    latest label as prdtypecode, ready for `catalog train --data`. Local photos are copied."""
    from shared.db.quality import labelled_listings

    settings = get_settings()
    images = out_dir / "images" / "image_train"
    images.mkdir(parents=True, exist_ok=True)
    with session_scope(_database(settings)) as session:
        rows = [(listing.listing_id, listing.title, listing.description, listing.image_uri, code)
                for listing, code in labelled_listings(session)]  # fmt: skip
    copied = unnamed = 0
    with (
        (out_dir / "X_train_update.csv").open("w", newline="", encoding="utf-8") as xf,
        (out_dir / "Y_train_CVw08PX.csv").open("w", newline="", encoding="utf-8") as yf,
    ):
        x, y = csv.writer(xf), csv.writer(yf)
        x.writerow(["", "designation", "description", "productid", "imageid"])
        y.writerow(["", "prdtypecode"])
        for i, (listing_id, title, description, uri, code) in enumerate(rows):
            match = _CHALLENGE_IMAGE.search(uri or "")
            image_id = match.group(1) if match else str(900_000_000 + i)
            source = _local_image(uri)
            if source is not None and _SAFE_NAME.fullmatch(listing_id):
                shutil.copyfile(source, images / f"image_{image_id}_product_{listing_id}.jpg")
                copied += 1
            elif source is not None:  # "/" or ".." in an id: no file name, the offer stays text-only
                unnamed += 1
            x.writerow([i, title, description or "", listing_id, image_id])
            y.writerow([i, code])
    summary: dict[str, Any] = {"out": str(out_dir), "listings": len(rows), "images": copied,
                               "images_skipped_unsafe_id": unnamed,
                               "exported_at": utcnow().isoformat()}  # fmt: skip
    out.print_json(json.dumps(summary))


def register(app: typer.Typer) -> None:
    app.command("promote")(promote_cmd)
    app.command("rollback")(rollback_cmd)
    app.command("shadow")(shadow_cmd)
    app.command("models")(models_cmd)
    app.command("drift")(drift_cmd)
    app.command("export-labels")(export_labels)
