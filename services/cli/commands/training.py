"""Training commands: ``catalog train`` and ``catalog evaluate`` (heavy imports inside)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from shared.config import get_settings
from shared.logging import configure_logging

console = Console(stderr=True)


def train(
    data: Annotated[
        Path, typer.Option("--data", help="Catalog in the challenge layout (X/Y CSVs + images/).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Model repository to publish a new revision into.")],
    text_base: Annotated[
        list[str] | None,
        typer.Option(
            "--text-base",
            help="subword (fastText-style), subword_title / subword_chars (its title-only and "
            "character-only views), bow (word-piece linear model), minilm, or a HF model "
            "dir or hub name (CamemBERT, FlauBERT...); repeatable. Default: the profile's, else "
            "subword, bow (default profile: + subword_title, subword_chars; quick: bow).",
        ),
    ] = None,
    image_base: Annotated[
        list[str] | None,
        typer.Option(
            "--image-base",
            help="timm architecture, optionally ARCH=WEIGHTS.pth or ARCH=random (repeatable). "
            "Default: the profile's, else efficientnet_lite0.",
        ),
    ] = None,
    modalities: Annotated[
        str, typer.Option(help="Which modalities to train: text, image or text,image.")
    ] = "text,image",
    profile: Annotated[
        str,
        typer.Option(
            help="tiny (seconds, tests), quick (the demo's first model), default (2 CPU cores), "
            "production (the real catalog on one GPU) or production-tiny (its shape at test size)."
        ),
    ] = "default",
    device: Annotated[
        str, typer.Option(help="auto (CUDA when present), cpu or cuda. bf16 autocast on CUDA.")
    ] = "auto",
    rebalance: Annotated[bool, typer.Option(help="Oversample small classes, cap large ones.")] = False,
    work_dir: Annotated[
        Path | None, typer.Option(help="Checkpoints (resume); default OUT/.work/<data>-<profile>-<bases>.")
    ] = None,
    triton_kind: Annotated[
        str, typer.Option(help="instance_group kind in config.pbtxt: KIND_GPU or KIND_CPU.")
    ] = "KIND_GPU",
    translation: Annotated[
        str,
        typer.Option(
            help="Language step on training text: auto (translate iff CATALOG_TRANSLATOR is not none, "
            "as serving does), on or off. Recorded in the manifest; serving refuses a mismatch."
        ),
    ] = "auto",
    promote: Annotated[
        bool, typer.Option("--promote", help="Then promote it through the gate (`catalog promote`).")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="With --promote: override a refusing gate.")] = False,
    by: Annotated[str | None, typer.Option("--by", help="With --promote: who promotes.")] = None,
    taxonomy: Annotated[
        Path | None,
        typer.Option(
            help="Taxonomy file (JSON/CSV, docs/taxonomy.md) naming the classes; recorded as the "
            "revision's taxonomy_version. Default: DATA/taxonomy.json|csv, else the reference tree."
        ),
    ] = None,
) -> None:
    """Fine-tune text and image models, fuse them, evaluate on the held-out split, publish a revision.

    The revision is a candidate (the first one of a repository excepted): it goes live through
    `catalog promote` or --promote. An interrupted run resumes from its last finished epoch when
    rerun with the same arguments.
    """
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    from training.profiles import DEFAULT_IMAGE_BASE, PROFILES, get_profile, text_bases_for

    chosen = {m.strip() for m in modalities.split(",") if m.strip()}
    if not chosen or chosen - {"text", "image"}:
        raise typer.BadParameter("--modalities takes text, image or text,image")
    if profile not in PROFILES:
        raise typer.BadParameter(f"--profile is one of {', '.join(sorted(PROFILES))}")
    if device not in {"auto", "cpu", "cuda"}:
        raise typer.BadParameter("--device is auto, cpu or cuda")
    if triton_kind not in {"KIND_GPU", "KIND_CPU"}:
        raise typer.BadParameter("--triton-kind is KIND_GPU or KIND_CPU")
    if translation not in {"auto", "on", "off"}:
        raise typer.BadParameter("--translation is auto, on or off")
    from services.cli.wiring import text_preparer
    from training.pipeline import TrainRequest
    from training.pipeline import train as run_training

    chosen_profile = get_profile(profile, rebalance)
    texts = text_base or (list(chosen_profile.text_bases) or text_bases_for(profile))
    images = image_base or list(chosen_profile.image_bases or [DEFAULT_IMAGE_BASE])
    request = TrainRequest(
        data_dir=data,
        out=out,
        text_bases=texts if "text" in chosen else [],
        image_bases=images if "image" in chosen else [],
        profile=chosen_profile,
        device=device,
        work_dir=work_dir,
        instance_kind=triton_kind,
        max_pixels=settings.image_max_pixels,
        auto_accept_precision=settings.auto_accept_precision,
        taxonomy=taxonomy,
    )
    try:
        request.text_preparer = text_preparer(settings, translation)
        manifest = run_training(request)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        console.print(f"[red]training failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    from shared.lifecycle.state import current_version

    live = current_version(out) == manifest.version
    console.print(
        f"[green]published[/green] {manifest.version} in {out} ({'current' if live else 'candidate'})"
    )
    console.print_json(json.dumps(manifest.metrics.get("fusion", {})))
    if promote and not live:
        from services.cli.commands.lifecycle import run_promotion

        code = run_promotion(
            settings.model_copy(update={"model_repository": out}),
            manifest.version,
            by=by,
            reason="catalog train --promote",
            force=force,
        )
        if code:
            raise typer.Exit(code)


def evaluate(
    data: Annotated[Path, typer.Option("--data", help="Catalog in the challenge layout.")],
    model_repository: Annotated[Path, typer.Option("--model-repository", help="Repository to evaluate.")],
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the JSON report.")],
    predictions_csv: Annotated[
        Path | None, typer.Option("--predictions-csv", help="Also write per-offer predictions here.")
    ] = None,
    all_rows: Annotated[
        bool, typer.Option("--all", help="Score every offer, not only the saved held-out split.")
    ] = False,
) -> None:
    """Score offers through the exported ONNX models and fusion (as serving does) and report F1.

    On the training data, the held-out split saved at training time is evaluated; on other
    data, every offer. A confusion-matrix PNG is written next to the JSON.
    """
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    from services.cli.wiring import text_preparer
    from shared.ml.model_repo import read_manifest
    from shared.ml.text_preparation import trained_translated
    from training.evaluate import evaluate_data

    try:
        translated = trained_translated(read_manifest(model_repository))
        body = evaluate_data(
            data,
            model_repository,
            json_out,
            predictions_csv,
            all_rows,
            settings.image_max_pixels,
            text_preparer(settings, "on" if translated else "off"),
        )
    except (FileNotFoundError, ValueError, KeyError, LookupError) as exc:
        console.print(f"[red]evaluation failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    summary = {
        k: body.get(k) for k in ("model_version", "evaluated", "evaluated_rows", "modalities", "fusion")
    }
    console.print_json(json.dumps(summary))


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("evaluate")(evaluate)
