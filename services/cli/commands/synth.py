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
    leaves: int = typer.Option(
        0, "--leaves", min=0, help="A hierarchical taxonomy of this many leaves (0: the 27 reference codes)."
    ),
    departments: int = typer.Option(
        0, "--departments", min=0, help="Departments of --leaves (0: one per ~25 leaves, at least 2)."
    ),
    tail_offers: int = typer.Option(
        0, "--tail-offers", min=0, help="With --leaves: offers per tail leaf (torso x2, head x5); sets --n."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Write a synthetic catalog: DIR/X_train_update.csv, DIR/Y_train_CVw08PX.csv, DIR/images/image_train/.

    27 categories with their real class shares, ~75% French, HTML descriptions (~35% missing).

    Confusable neighbours, titles only the photo settles, uninformative and missing/corrupt photos.

    With --leaves N: a 3-level tree (department > category of ~5 > leaf) written as
    DIR/taxonomy.json (`catalog taxonomy load` and `catalog train` read it), long-tail counts
    (10% head, 30% torso, 60% tail leaves at 5 : 2 : 1 offers), siblings closer than departments.

    Difficulty knobs: training.synth.SynthConfig.
    """
    from training.synth import generate_catalog
    from training.synth.config import TEXT_MODES
    from training.synth.hierarchy import make_tree

    if text not in TEXT_MODES:
        raise typer.BadParameter(f"choose one of {sorted(TEXT_MODES)}", param_hint="--text")
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(
            f"{out} exists and is not a directory; pick another --out", param_hint="--out"
        )
    tree = None
    if leaves:
        try:
            tree = make_tree(leaves, departments or max(2, round(leaves / 25)), seed)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--leaves/--departments") from exc
        n = tail_offers * tree.units() if tail_offers else n
    elif departments or tail_offers:
        raise typer.BadParameter("--departments and --tail-offers need --leaves", param_hint="--leaves")
    if (out / "X_train_update.csv").exists() and not quiet:
        typer.echo(f"note: overwriting the catalog in {out}")
    with Progress(
        TextColumn("[bold]synth"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), disable=quiet
    ) as bar:
        task = bar.add_task("offers", total=n)
        try:
            summary = generate_catalog(
                out,
                n,
                seed,
                TEXT_MODES[text],
                progress=lambda k: bar.update(task, completed=k),
                tree=tree,
            )
        except OSError as exc:  # unwritable directory, full disk
            typer.echo(f"error: cannot write the catalog to {out}: {exc}; pick another --out", err=True)
            raise typer.Exit(2) from exc
    typer.echo(
        f"wrote {summary.n} offers to {summary.out} in {summary.seconds:.1f}s "
        f"(languages {summary.language_counts}, missing images {summary.missing_images}, "
        f"corrupt images {summary.corrupt_images}, no description {summary.missing_descriptions})"
    )
    if tree is not None:
        typer.echo(
            f"taxonomy: {len(tree.leaves)} leaves, {len(tree.categories)} categories, "
            f"{len(tree.departments)} departments -> {out / 'taxonomy.json'}"
        )


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)
