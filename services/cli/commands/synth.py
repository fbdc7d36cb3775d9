"""``catalog synth``: write a synthetic multilingual catalog in the challenge's file layout."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def synth(
    out: Path = typer.Option(..., "--out", help="Directory to write (created if missing)."),
    n: int = typer.Option(6000, "--n", min=1, help="Number of offers."),
    seed: int = typer.Option(
        0, "--seed", help="Random seed: the same seed writes the same files byte for byte."
    ),
    text: str = typer.Option(
        "standard",
        "--text",
        help="standard: the calibrated default (short offers, a closed vocabulary); real-length: "
        "offer lengths and vocabulary like a real marketplace's (median ~41 words, ~14% over 100, "
        "a long tail of rare words; docs/benchmarks/synth.md).",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Write a synthetic catalog: DIR/X_train_update.csv, DIR/Y_train_CVw08PX.csv, DIR/images/image_train/.

    27 categories with their real class shares, ~75% French, HTML descriptions (~35% missing).

    Confusable neighbours, titles only the photo settles, uninformative and missing/corrupt photos.

    Difficulty knobs: training.synth.SynthConfig.
    """
    from training.synth import generate_catalog
    from training.synth.config import TEXT_MODES

    if text not in TEXT_MODES:
        raise typer.BadParameter(f"choose one of {sorted(TEXT_MODES)}", param_hint="--text")
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(
            f"{out} exists and is not a directory; pick another --out", param_hint="--out"
        )
    if (out / "X_train_update.csv").exists() and not quiet:
        typer.echo(f"note: overwriting the catalog in {out}")
    with Progress(
        TextColumn("[bold]synth"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), disable=quiet
    ) as bar:
        task = bar.add_task("offers", total=n)
        try:
            summary = generate_catalog(
                out, n, seed, TEXT_MODES[text], progress=lambda k: bar.update(task, completed=k)
            )
        except OSError as exc:  # unwritable directory, full disk
            typer.echo(f"error: cannot write the catalog to {out}: {exc}; pick another --out", err=True)
            raise typer.Exit(2) from exc
    typer.echo(
        f"wrote {summary.n} offers to {summary.out} in {summary.seconds:.1f}s "
        f"(languages {summary.language_counts}, missing images {summary.missing_images}, "
        f"corrupt images {summary.corrupt_images}, no description {summary.missing_descriptions})"
    )


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)
