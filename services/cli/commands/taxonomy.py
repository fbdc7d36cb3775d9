"""``catalog taxonomy load|show|diff``: the category tree (docs/taxonomy.md).

The logic lives in shared.taxonomy (files, validation, versions in SQL, the model diff); these
commands read arguments and print.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from shared.config import get_settings
from shared.db.session import migrate, session_scope
from shared.taxonomy.diff import model_diff
from shared.taxonomy.files import read_taxonomy
from shared.taxonomy.model import TaxonomyError
from shared.taxonomy.store import load_taxonomy, stored_taxonomy

console = Console(stderr=True)
taxonomy_app = typer.Typer(help="The category tree: load a file, show it, diff a model against it.")


def _database() -> str:
    url = get_settings().effective_database_url
    migrate(url)
    return url


@taxonomy_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="Taxonomy file, .json or .csv (docs/taxonomy.md).")],
    allow_drop: Annotated[
        bool,
        typer.Option("--allow-drop", help="Accept dropping codes that listings or labels still use."),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and show the changes only.")] = False,
) -> None:
    """Validate FILE and store it as the current taxonomy version (exit 2 when it is refused)."""
    try:
        taxonomy = read_taxonomy(file)
    except (OSError, TaxonomyError) as exc:
        problems = exc.problems if isinstance(exc, TaxonomyError) else [str(exc)]
        console.print(f"[red]refused:[/red] {file}")
        for problem in problems[:50]:
            console.print(f"  - {problem}")
        raise typer.Exit(2) from exc
    with session_scope(_database()) as session:
        try:
            result = load_taxonomy(session, taxonomy, source=str(file), allow_drop=allow_drop)
        except TaxonomyError as exc:
            console.print(f"[red]refused:[/red] {exc}")
            raise typer.Exit(2) from exc
        if dry_run:
            session.rollback()
    verb = "would load" if dry_run else ("loaded" if result["changed"] else "unchanged")
    console.print(
        f"{verb}: taxonomy {result['hash']} (version {result['version']}), "
        f"{len(taxonomy.nodes)} codes, {len(taxonomy.live_leaves())} live leaves"
    )
    typer.echo(json.dumps(result["changes"], ensure_ascii=False, indent=1))


@taxonomy_app.command("show")
def show(
    tree: Annotated[bool, typer.Option("--tree", help="Indented under parents.")] = False,
    language: Annotated[str | None, typer.Option(help="Names in this language where given.")] = None,
) -> None:
    """The current taxonomy: code, path and status per line (or as a tree)."""
    with session_scope(_database()) as session:
        taxonomy = stored_taxonomy(session)
    if taxonomy is None:
        console.print("no taxonomy loaded: `catalog taxonomy load FILE`")
        raise typer.Exit(1)
    console.print(f"taxonomy {taxonomy.version}: {taxonomy.title}")
    for line in taxonomy.outline(tree=tree, language=language):
        typer.echo(line)


@taxonomy_app.command("diff")
def diff(
    model: Annotated[
        str | None, typer.Option("--model", help="Model version (default: the current one).")
    ] = None,
) -> None:
    """Which of a model revision's classes no longer exist (retired, merged, unknown) and which
    live leaves it cannot predict; exit 1 when it is stale for the current taxonomy."""
    from shared.ml.model_repo import find_manifest_by_version, read_manifest

    settings = get_settings()
    try:
        manifest = (
            find_manifest_by_version(settings.model_repository, model)
            if model
            else read_manifest(settings.model_repository)
        )
    except (FileNotFoundError, LookupError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    with session_scope(_database()) as session:
        taxonomy = stored_taxonomy(session)
    if taxonomy is None:
        console.print("no taxonomy loaded: `catalog taxonomy load FILE`")
        raise typer.Exit(2)
    report = {"model": manifest.version, **model_diff(taxonomy, manifest.codes, manifest.taxonomy_version)}
    typer.echo(json.dumps(report, ensure_ascii=False, indent=1))
    raise typer.Exit(1 if report["stale"] else 0)


def register(app: typer.Typer) -> None:
    app.add_typer(taxonomy_app, name="taxonomy")
