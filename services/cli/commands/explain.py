"""``catalog explain``: why one offer gets its category."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from services.cli.explaining import OnlineExplainer
from shared.config import get_settings
from shared.explanation import Explanation
from shared.logging import configure_logging

console = Console(stderr=True)


def _print(result: Explanation) -> None:
    modalities = "+".join(m for m, p in (("text", result.text), ("image", result.heatmap)) if p)
    print(f"{result.prdtypecode}  {result.label}  ({result.confidence:.1%}, {modalities or 'prior'})")
    for score in result.top_k[1:]:
        print(f"  {score.prdtypecode}  {score.label}  ({score.probability:.1%})")
    print("words for:     " + (", ".join(f"{w.word} {w.weight:+.3f}" for w in result.words_for) or "-"))
    print("words against: " + (", ".join(f"{w.word} {w.weight:+.3f}" for w in result.words_against) or "-"))
    share = result.modalities
    parts = [
        f"{name} {part:+.3f} ({fraction:.0%})"
        for name, part, fraction in (
            ("text", share.text, share.share_text),
            ("image", share.image, share.share_image),
        )
        if part is not None
    ]
    print(f"modalities:    {', '.join(parts) or '-'}  (prior {share.p_none:.3f} -> {share.p_both:.3f})")
    if result.heatmap is not None:
        print(f"photo ({result.heatmap.rows}x{result.heatmap.cols}, + pushed for):")
        for row in result.heatmap.weights:
            print("  " + " ".join(f"{v:+.3f}" for v in row))
    elif result.image_missing_reason:
        print(f"photo: not used ({result.image_missing_reason})")
    seconds = result.elapsed_ms / 1000
    print(f"model {result.model_version}, {result.inference_requests} requests, {seconds:.2f} s")


def explain(
    title: Annotated[str | None, typer.Option("--title", help="The offer's title.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="HTML description.")] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="A photo file.", exists=True, dir_okay=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Explanation JSON.")] = False,
    heatmap_png: Annotated[
        Path | None, typer.Option("--heatmap-png", help="Also write the photo heat-map picture here.")
    ] = None,
) -> None:
    """Why one offer gets its category: the words that pushed for and against it, a heat-map of
    the photo and each modality's share, by occlusion through the served models (same code path
    and backend as ``catalog classify``)."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    if not (title or description or image):
        raise typer.BadParameter("give at least one of --title, --description, --image")

    async def run() -> Explanation:
        explainer = OnlineExplainer(settings)
        try:
            return await explainer.explain(title, description, image.read_bytes() if image else None)
        finally:
            await explainer.close()

    try:
        result = asyncio.run(run())
    except (FileNotFoundError, LookupError) as exc:
        console.print(f"[red]explain:[/red] {exc}")
        raise typer.Exit(2) from exc
    if heatmap_png is not None and result.heatmap is not None:
        heatmap_png.write_bytes(base64.b64decode(result.heatmap.png_base64))
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        _print(result)


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
