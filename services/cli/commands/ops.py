"""Operations commands: ``worker``, ``up``, ``status``, ``docs``, ``dlq``, ``db``, ``config``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.cli.asyncapi import build_document
from services.cli.operations import collect_status, get_dead_letter, list_dead_letters, replay_dead_letters
from services.cli.registry import WORKERS, create_worker, parse_replicas
from services.cli.supervisor import ProcessSpec, Supervisor
from shared.config import get_settings, redact_url, redacted, settings_table_markdown
from shared.db.session import upgrade
from shared.logging import configure_logging
from shared.redis_conn import warn_if_shadowed

console = Console(stderr=True)
out = Console()


def worker(
    name: Annotated[str, typer.Argument(help="Worker kind: " + ", ".join(WORKERS))],
) -> None:
    """Run one worker process (one consumer in its kind's consumer group) until Ctrl-C."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if name not in WORKERS:
        raise typer.BadParameter(f"unknown worker {name!r}; choose one of {', '.join(WORKERS)}")
    app = create_worker(name, settings)
    asyncio.run(app.run())


def up(
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only these worker kinds (repeatable).")
    ] = None,
    replicas: Annotated[
        list[str] | None,
        typer.Option("--replicas", help="KIND=N: N processes of a kind (repeatable)."),
    ] = None,
    api: Annotated[bool, typer.Option(help="Also run the HTTP API.")] = True,
) -> None:
    """Run every worker (the reconciler and reclassify included) and the API, supervised; Ctrl-C stops.

    Crashed processes are restarted with backoff. With CATALOG_REDIS_URL unset, the embedded
    Redis is started here and shared with every child.
    """
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    warn_if_shadowed()
    try:
        counts = parse_replicas(replicas or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--replicas") from exc
    kinds = only or list(WORKERS)
    specs = [
        ProcessSpec(f"{kind}-{i + 1}", ["worker", kind]) for kind in kinds for i in range(counts.get(kind, 1))
    ]
    if api:
        specs.append(ProcessSpec("api", ["api"]))
    Supervisor.for_settings(settings, specs).run_forever()


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Streams, consumer groups (lag, pending, consumers), dead letters and the model version."""
    settings = get_settings()
    report = asyncio.run(collect_status(settings))
    if as_json:
        out.print_json(json.dumps(report, default=str))
        return
    table = Table(title="Streams")
    for col in ("stream", "length", "group", "consumers", "pending", "lag"):
        table.add_column(col)
    for stream in report["streams"]:
        groups = stream["groups"] or [{"name": "-", "consumers": 0, "pending": 0, "lag": "-"}]
        for group in groups:
            table.add_row(
                stream["stream"],
                str(stream["length"]),
                group["name"],
                str(group["consumers"]),
                str(group["pending"]),
                str(group["lag"]),
            )
    out.print(table)
    out.print(f"dead letters: {report['dead_letters']}")
    out.print(f"overdue submissions: {report['overdue']} (see `catalog reconcile`)")
    out.print(f"model: {report['model']}")


def docs(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the AsyncAPI JSON.")] = Path(
        "docs/asyncapi.json"
    ),
) -> None:
    """Write the AsyncAPI document of every stream and event (the stream contract)."""
    document = build_document(get_settings().stream_prefix)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(document, indent=2), encoding="utf-8")
    console.print(f"wrote {out_file} ({len(document['channels'])} channels)")


dlq_app = typer.Typer(help="Inspect and replay dead letters (listings.dead).", no_args_is_help=True)


@dlq_app.command("list")
def dlq_list(
    limit: Annotated[int, typer.Option(help="Most recent N.")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List dead letters, newest first."""
    letters = asyncio.run(list_dead_letters(get_settings(), limit))
    if as_json:
        out.print_json(json.dumps([{"entry_id": i, **d.model_dump(mode="json")} for i, d in letters]))
        return
    table = Table(title=f"Dead letters ({len(letters)})")
    for col in ("entry", "dead_at", "stream", "worker", "reason", "attempts", "error"):
        table.add_column(col, overflow="fold")
    for entry_id, d in letters:
        table.add_row(
            entry_id,
            d.dead_at.isoformat(timespec="seconds"),
            d.stream,
            d.worker,
            d.reason,
            str(d.attempts),
            d.error[:120],
        )
    out.print(table)


@dlq_app.command("show")
def dlq_show(entry_id: Annotated[str, typer.Argument(help="Entry id from `dlq list`.")]) -> None:
    """Show one dead letter with its full error and original payload."""
    letter = asyncio.run(get_dead_letter(get_settings(), entry_id))
    if letter is None:
        console.print(f"[red]no dead letter {entry_id}[/red]; see `catalog dlq list`")
        raise typer.Exit(1)
    out.print_json(letter.model_dump_json())


@dlq_app.command("replay")
def dlq_replay(
    entry_ids: Annotated[list[str] | None, typer.Argument(help="Entry ids; none with --all.")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
) -> None:
    """Re-publish dead letters to their original stream (after a fix) and remove them.

    Payloads that still fail the schema are kept and reported.
    """
    if not entry_ids and not replay_all:
        raise typer.BadParameter("give entry ids or --all")
    replayed, kept = asyncio.run(replay_dead_letters(get_settings(), entry_ids or None))
    console.print(f"replayed {len(replayed)}; kept {len(kept)} (still invalid)")
    for entry_id, why in kept:
        console.print(f"  kept {entry_id}: {why[:200]}")


db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply Alembic migrations to CATALOG_DATABASE_URL (or the embedded SQLite file)."""
    url = get_settings().effective_database_url
    upgrade(url, revision)
    console.print(f"database at {revision}: {redact_url(url)}")


def config(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the README settings table.")] = False,
) -> None:
    """Show the effective settings (secrets redacted), or every setting as a markdown table."""
    if markdown:
        out.print(settings_table_markdown(), markup=False, highlight=False, soft_wrap=True)
        return
    out.print_json(json.dumps(redacted(get_settings())))


def register(app: typer.Typer) -> None:
    app.command("config")(config)
    app.command("worker")(worker)
    app.command("up")(up)
    app.command("status")(status)
    app.command("docs")(docs)
    app.add_typer(dlq_app, name="dlq")
    app.add_typer(db_app, name="db")
