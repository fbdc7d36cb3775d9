"""The ``catalog`` command: one typer app; each area registers its commands here.

Command modules import heavy libraries (torch, onnxruntime) inside their commands so that
``catalog --help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

from services.bench.commands import bench_app

app = typer.Typer(
    name="catalog",
    help="Catalog ingestion and product-type classification over Redis Streams.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
app.add_typer(bench_app, name="bench")

# Each module defines ``register(app, bench_app)``.
COMMAND_MODULES: list[str] = [
    "services.cli.ops",
    "services.cli.api",
    "services.cli.language",
    "services.cli.training",
    "services.cli.synth",
    "services.cli.inference",
    "services.cli.rollout",
    "services.cli.lifecycle",
    "services.cli.explain_cmd",
    "services.cli.reliability",
]

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app, bench_app)


if __name__ == "__main__":
    app()
