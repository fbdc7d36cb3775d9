"""Language worker commands: ``catalog prepare``."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from services.language.logic import Preparer, TranslationUnavailable
from shared.config import get_settings
from shared.contract import ListingSubmitted

console = Console(stderr=True)
out = Console()


def prepare(
    title: Annotated[str, typer.Option("--title", "-t", help="The offer's title (designation).")],
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="Optional HTML description.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the prepared event as JSON.")] = False,
) -> None:
    """Prepare one offer like the language worker does (clean, detect, translate), no queue.

    Translation uses CATALOG_TRANSLATOR (google, libre, mymemory, none) and CATALOG_TRANSLATOR_URL.
    Offline, use CATALOG_TRANSLATOR=none or point CATALOG_TRANSLATOR_URL at a reachable server.
    """
    settings = get_settings()
    event = ListingSubmitted.new("cli", title=title, description=description)

    async def run() -> str:
        preparer = Preparer.from_settings(settings)
        try:
            return (await preparer.prepare([event]))[0].model_dump_json(indent=2)
        finally:
            preparer.close()

    try:
        payload = asyncio.run(run())
    except TranslationUnavailable as exc:
        console.print(
            f"[red]translation failed:[/red] {exc}\n"
            "Set CATALOG_TRANSLATION_ON_FAILURE=degrade to get the original text, "
            "or CATALOG_TRANSLATOR=none offline."
        )
        raise typer.Exit(2) from exc
    if as_json:
        out.print_json(payload)
        return
    prepared = json.loads(payload)
    translation = prepared["translation"]
    out.print(
        f"[bold]language[/bold]    {prepared['language']['code']} ({prepared['language']['confidence']:.3f})"
    )
    out.print(
        f"[bold]translation[/bold] {translation['status']}"
        + (f" ({translation['reason']})" if translation["reason"] else "")
    )
    out.print(f"[bold]truncated[/bold]   {prepared['text_truncated']}")
    out.print(f"[bold]text[/bold]        {escape(prepared['text'])}", highlight=False)
    out.print(f"[bold]text_fr[/bold]     {escape(prepared['text_fr'])}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("prepare")(prepare)
