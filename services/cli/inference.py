"""Inference commands: ``catalog triton``, ``catalog classify``."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from shared.config import get_settings
from shared.logging import configure_logging

console = Console(stderr=True)


def triton(
    url: Annotated[
        str | None, typer.Option(help="gRPC host:port (default CATALOG_TRITON_URL); HTTP/metrics on +1/+2.")
    ] = None,
    model_repository: Annotated[
        Path | None, typer.Option(help="Repository to serve (default CATALOG_MODEL_REPOSITORY).")
    ] = None,
    venv: Annotated[Path | None, typer.Option(help="Triton venv (default CATALOG_TRITON_VENV).")] = None,
) -> None:
    """Run a local tritonserver on the model repository until Ctrl-C.

    The server comes from nvidia-pytriton in its own venv (create it with
    `deploy/triton/make_venv.sh` or `make triton-env`), runs our Python-based `onnxruntime`
    backend, binds 127.0.0.1 and uses explicit model control: workers load new revisions.
    """
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    from services.standins.tritonserver.launcher import LocalTritonServer, TritonSetupError

    repository = model_repository or settings.model_repository
    server = LocalTritonServer(
        repository,
        url or settings.triton_url,
        venv or settings.triton_venv,
        timeout_s=settings.triton_start_timeout_s,
        log_file=sys.stderr.buffer,
    )
    signal.signal(signal.SIGTERM, _interrupt)  # before starting: a stop may come at any time
    try:
        server.start()
        console.print(
            f"[green]tritonserver ready[/green] gRPC 127.0.0.1:{server.ports.grpc} "
            f"HTTP :{server.ports.http} metrics :{server.ports.metrics} ({repository})"
        )
        assert server.process is not None
        code = server.process.wait()
        console.print(f"[red]tritonserver exited with code {code}[/red]")
        raise typer.Exit(1)
    except (TritonSetupError, FileNotFoundError) as exc:
        console.print(f"[red]triton:[/red] {exc}")
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        console.print("stopping tritonserver")
    finally:
        server.stop()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


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
    from services.cli.online import OnlineClassifier

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


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.command("triton")(triton)
    app.command("classify")(classify)
