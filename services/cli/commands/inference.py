"""``catalog classify``: one offer through the pipeline's code path, without the queue."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from services.cli.online import OnlineClassifier
from shared.config import get_settings
from shared.logging import configure_logging

console = Console(stderr=True)


def classify(
    title: Annotated[str | None, typer.Option("--title", help="The offer's title.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="HTML description.")] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="A photo file.", exists=True, dir_okay=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full ListingClassified JSON.")] = False,
) -> None:
    """Classify one offer through the pipeline's code path, without the queue.

    Language preparation -> text encoder -> image encoder -> fusion, on the backend the
    settings name (CATALOG_INFERENCE_BACKEND). Any subset of title, description and photo works.
    """
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    if not (title or description or image):
        raise typer.BadParameter("give at least one of --title, --description, --image")

    async def run() -> Any:
        classifier = OnlineClassifier(settings)
        try:
            photo = image.read_bytes() if image else None
            return await classifier.classify(title, description, photo)
        finally:
            await classifier.close()

    try:
        result = asyncio.run(run())
    except (FileNotFoundError, LookupError) as exc:
        console.print(f"[red]classify:[/red] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    print(f"{result.prdtypecode}  {result.label}  ({result.confidence:.1%}, {'+'.join(result.modalities)})")
    for score in result.top_k[1:]:
        print(f"  {score.prdtypecode}  {score.label}  ({score.probability:.1%})")
    if result.image_missing_reason:
        print(f"  image not used: {result.image_missing_reason}")
    print(f"  model {result.model_version}")


def register(app: typer.Typer) -> None:
    app.command("classify")(classify)
