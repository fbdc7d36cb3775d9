"""Run the local ``tritonserver`` (from nvidia-pytriton, in its own venv) on the model repository.

Production uses NVIDIA's Triton container; locally and in tests this is the real server binary
with our Python-based ``onnxruntime`` backend (``onnxruntime_backend/`` here, installed into the venv by
deploy/triton/install_backend.py). docs/architecture.md §5 lists the environment:
the interpreter's LIBDIR and the wheel's ``nvidia_pytriton.libs`` on LD_LIBRARY_PATH, the venv's
bin first on PATH, bound to 127.0.0.1, explicit model control.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

from shared.ml.model_repo import read_manifest

log = logging.getLogger(__name__)

MAKE_VENV = "deploy/triton/make_venv.sh"
BIND = "127.0.0.1"  # the local server is for this machine only; production is NVIDIA's container


class TritonSetupError(RuntimeError):
    """The local Triton environment is missing or the server did not come up."""


@dataclass(frozen=True)
class TritonPorts:
    host: str
    grpc: int
    http: int
    metrics: int


def ports_of(url: str) -> TritonPorts:
    """gRPC on the URL's port; HTTP and metrics on the next two ports."""
    host, _, port = url.rpartition(":")
    if not port.isdigit():
        raise TritonSetupError(f"CATALOG_TRITON_URL must be host:port, got {url!r}")
    grpc = int(port)
    return TritonPorts(host=host or "127.0.0.1", grpc=grpc, http=grpc + 1, metrics=grpc + 2)


def _find(venv: Path) -> tuple[Path, Path, Path]:
    """(tritonserver binary, nvidia_pytriton.libs, backend directory) inside ``venv``."""
    hint = f"Create it with `{MAKE_VENV}` (or `make triton-venv`)."
    binaries = sorted(venv.glob("lib/python3*/site-packages/pytriton/tritonserver/bin/tritonserver"))
    backends = venv / "triton" / "backends"
    if not binaries or not (backends / "onnxruntime" / "model.py").is_file():
        raise TritonSetupError(f"No local Triton environment at {venv}. {hint}")
    binary = binaries[-1]
    libs = binary.parents[3] / "nvidia_pytriton.libs"
    return binary, libs, backends


def server_command(
    repository: Path, url: str, venv: Path, models: list[str]
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that start tritonserver on ``repository``."""
    venv = venv.resolve()
    binary, libs, backends = _find(venv)
    libdir = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ports = ports_of(url)
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        p for p in [libdir, str(libs), env.get("LD_LIBRARY_PATH", "")] if p
    )
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["CATALOG_TRITON_REPOSITORY"] = str(repository.resolve())
    argv = [
        str(binary),
        f"--model-repository={repository.resolve()}",
        f"--backend-directory={backends}",
        "--model-control-mode=explicit",
        *[f"--load-model={m}" for m in models],
        f"--grpc-address={BIND}",
        f"--http-address={BIND}",
        f"--metrics-address={BIND}",
        f"--grpc-port={ports.grpc}",
        f"--http-port={ports.http}",
        f"--metrics-port={ports.metrics}",
        "--allow-gpu-metrics=false",
        "--allow-cpu-metrics=false",
        "--exit-timeout-secs=5",
        "--log-verbose=0",
    ]
    return argv, env


def current_models(repository: Path) -> list[str]:
    """The encoder models of the current manifest (fusion runs in the fusion worker)."""
    manifest = read_manifest(repository)
    return [m.name for m in manifest.text_models] + [m.name for m in manifest.image_models]


def sync_cpu_view(repository: Path, view: Path) -> bool:
    """Mirror ``repository`` into ``view`` for a CPU-only server; True when something changed.

    Version directories are symlinks (no copy); each config.pbtxt is rewritten with
    ``KIND_GPU`` -> ``KIND_CPU`` so a repository trained for the production GPU server loads
    unchanged here (tritonserver refuses KIND_GPU without a GPU).
    """
    changed = False
    view.mkdir(parents=True, exist_ok=True)
    for config in sorted(repository.glob("*/config.pbtxt")):
        source = config.parent
        target = view / source.name
        target.mkdir(exist_ok=True)
        body = config.read_text("utf-8").replace("KIND_GPU", "KIND_CPU")
        mirrored = target / "config.pbtxt"
        if not mirrored.is_file() or mirrored.read_text("utf-8") != body:
            mirrored.write_text(body, "utf-8")
            changed = True
        versions = {p.name for p in source.iterdir() if p.name.isdigit() and p.is_dir()}
        for name in versions:
            link = target / name
            if not link.exists():
                link.symlink_to(source.resolve() / name, target_is_directory=True)
                changed = True
        for link in target.iterdir():
            if link.is_symlink() and link.name not in versions:
                link.unlink()
                changed = True
    return changed


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies (no orphaned server holding the ports)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class LocalTritonServer:
    """A tritonserver subprocess; ``with LocalTritonServer(...) as server:`` waits until ready."""

    def __init__(
        self,
        repository: Path,
        url: str,
        venv: Path,
        timeout_s: float = 120.0,
        log_file: IO[bytes] | None = None,
    ) -> None:
        self.repository = Path(repository)
        self.url = url
        self.venv = Path(venv)
        self.timeout_s = timeout_s
        self.log_file = log_file
        self.ports = ports_of(url)
        self.process: subprocess.Popen[bytes] | None = None
        self.view = Path(tempfile.mkdtemp(prefix="triton-view-"))
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None

    @property
    def http_base(self) -> str:
        return f"http://{BIND}:{self.ports.http}"

    def _sync_loop(self) -> None:
        """Keep the CPU view in step with the repository (new revisions appear within 0.5 s)."""
        while not self._stop.wait(0.5):
            try:
                sync_cpu_view(self.repository, self.view)
            except OSError:
                log.exception("triton repository view sync failed")

    def start(self) -> LocalTritonServer:
        models = current_models(self.repository)
        sync_cpu_view(self.repository, self.view)
        self._stop.clear()
        self._syncer = threading.Thread(target=self._sync_loop, name="triton-view-sync", daemon=True)
        self._syncer.start()
        argv, env = server_command(self.view, self.url, self.venv, models)
        log.info("starting tritonserver", extra={"url": self.url, "repository": str(self.repository)})
        self.process = subprocess.Popen(
            argv,
            env=env,
            stdout=self.log_file or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Poll the HTTP health endpoint every 0.3 s until ready or ``timeout_s``; a server that
        exits meanwhile fails at once (its log says why) instead of waiting out the timeout."""
        retrying = Retrying(
            stop=stop_after_delay(self.timeout_s),
            wait=wait_fixed(0.3),
            retry=retry_if_exception_type(httpx.HTTPError) | retry_if_result(lambda ready: not ready),
        )
        try:
            retrying(self._ready_once)
        except RetryError:
            self.stop()
            raise TritonSetupError(f"tritonserver not ready after {self.timeout_s:.0f}s") from None

    def _ready_once(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise TritonSetupError(f"tritonserver exited with code {self.process.returncode}; see its log")
        return httpx.get(f"{self.http_base}/v2/health/ready", timeout=2).status_code == 200

    def load(self, model: str) -> None:
        """Load (or reload, picking up new version directories) one model."""
        response = httpx.post(f"{self.http_base}/v2/repository/models/{model}/load", timeout=self.timeout_s)
        if response.status_code != 200:
            raise TritonSetupError(f"Triton could not load {model}: {response.text}")

    def stop(self) -> None:
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join(timeout=5)
            self._syncer = None
        if self.process is None:
            shutil.rmtree(self.view, ignore_errors=True)
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self.view, ignore_errors=True)

    def __enter__(self) -> LocalTritonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
