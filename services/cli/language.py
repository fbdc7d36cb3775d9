"""Language worker commands: ``catalog prepare``."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

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
    from services.language.logic import Preparer, TranslationUnavailable
    from shared.config import get_settings
    from shared.contract import ListingSubmitted

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


def translator_standin(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 5055,
    fail_next: Annotated[int, typer.Option(help="Answer 503 to the first N requests.")] = 0,
) -> None:
    """Serve the offline stand-in translation server (Google, LibreTranslate and MyMemory
    protocols, word-table "translation") until Ctrl-C.

    Then: CATALOG_TRANSLATOR=google CATALOG_TRANSLATOR_URL=http://127.0.0.1:PORT/ (or libre,
    mymemory). For demos and tests on machines without internet; never for production.
    """
    import signal
    import sys
    import time

    from services.standins.translator import StandinTranslator

    try:
        server = StandinTranslator(port=port)
    except OSError as exc:
        raise typer.BadParameter(f"cannot listen on 127.0.0.1:{port}: {exc}") from exc
    server.state.fail_next = fail_next
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop cleanly under supervisors too
    server.start()
    console.print(f"stand-in translator on {server.url} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        console.print(f"served {server.state.calls} calls ({server.state.failures} failed)")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.command("prepare")(prepare)
    app.command("translator-standin")(translator_standin)
