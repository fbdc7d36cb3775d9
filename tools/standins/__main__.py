"""``python -m tools.standins triton|translator``: serve a stand-in until Ctrl-C (laptops, tests,
the chaos suite); production uses NVIDIA's Triton container and a real translation provider."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from shared.config import get_settings
from shared.logging import configure_logging
from tools.standins.otlp import OtlpReceiver
from tools.standins.translator import StandinTranslator
from tools.standins.tritonserver.launcher import LocalTritonServer, TritonSetupError

console = Console(stderr=True)
app = typer.Typer(help="Stand-ins for tests and laptops, never deployed.", no_args_is_help=True)


@app.command("triton")
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


@app.command("translator")
def translator(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 5055,
    fail_next: Annotated[int, typer.Option(help="Answer 503 to the first N requests.")] = 0,
) -> None:
    """Serve the offline stand-in translation server (Google, LibreTranslate and MyMemory
    protocols, word-table "translation") until Ctrl-C.

    Then: CATALOG_TRANSLATOR=google CATALOG_TRANSLATOR_URL=http://127.0.0.1:PORT/ (or libre,
    mymemory). For demos and tests on machines without internet; never for production.
    """
    try:
        server = StandinTranslator(port=port)
    except OSError as exc:
        raise typer.BadParameter(f"cannot listen on 127.0.0.1:{port}: {exc}") from exc
    server.state.fail_next = fail_next
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop cleanly under supervisors too
    server.start()
    console.print(f"stand-in translator on {server.url} (Ctrl-C to stop)")
    try:
        _until_interrupted()
    finally:
        server.stop()
        console.print(f"served {server.state.calls} calls ({server.state.failures} failed)")


def _until_interrupted() -> None:
    """Sleep until Ctrl-C (SIGTERM exits through the handler each command sets)."""
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass


@app.command("otlp")
def otlp(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 4318,
) -> None:
    """Receive OTLP/HTTP traces (protobuf) and count the spans until Ctrl-C, in place of Jaeger
    (the tracing-cost benchmark: CATALOG_OTLP_ENDPOINT=http://127.0.0.1:PORT)."""
    receiver = OtlpReceiver(keep=False)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with receiver.serve(port) as url:
        console.print(f"stand-in OTLP receiver on {url} (Ctrl-C to stop)")
        try:
            _until_interrupted()
        finally:
            console.print(f"received {receiver.count} spans in {receiver.requests} requests")


if __name__ == "__main__":
    app()
