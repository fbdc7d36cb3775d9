"""The ``catalog`` command: one typer app; each area registers its commands here.

Command modules import heavy libraries (FastAPI, torch, training) inside their commands so that
``catalog --help`` stays fast.
"""

from __future__ import annotations

import typer

from services.bench.commands import bench_app
from services.cli.commands import (
    api,
    explain,
    inference,
    language,
    lifecycle,
    ops,
    reliability,
    rollout,
    synth,
    taxonomy,
    training,
)
from services.demo import commands as demo

app = typer.Typer(
    name="catalog",
    help="Catalog ingestion and product-type classification over Redis Streams.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
AREAS = (
    demo,
    ops,
    api,
    language,
    training,
    synth,
    inference,
    rollout,
    lifecycle,
    explain,
    reliability,
    taxonomy,
)
for _area in AREAS:
    _area.register(app)
app.add_typer(bench_app, name="bench")


if __name__ == "__main__":
    app()
