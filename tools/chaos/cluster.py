"""The processes of the fault-injection suite (``python -m tools.chaos``): a Redis server of its own with
append-only persistence, a local tritonserver, the API and one ``catalog worker`` per registered
kind (the reconciler among them, passing every 2 s), each a separate ``catalog`` process on
loopback, logging to its own file.

Workers and the reconciler that exit are restarted at once by the one supervisor (as ``catalog up``
restarts them, without its backoff); the suite stops and starts the others itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.cli.supervisor import CATALOG, ProcessSpec, Supervisor, redis_server

log = logging.getLogger(__name__)

STANDINS = [sys.executable, "-m", "tools.standins"]
ROOT = Path(__file__).resolve().parents[2]
"""The checkout: children run ``-m tools.standins`` from it, wherever the suite was started."""
WRITER_APP_NAME = "catalog-chaos-writer"
RECONCILE_INTERVAL_S = "2"
RECLAIM_IDLE_MS = 4000
MAX_DELIVERIES = 5
"""The default: a dependency outage consumes no delivery (shared/broker/outages.py), so the
suite no longer needs 200 deliveries to outlive its faults."""
"""CATALOG_RECONCILE_INTERVAL_S of the suite's reconciler worker (production: 30 s)."""


@dataclass
class Ports:
    base: int

    @property
    def redis(self) -> int:
        return self.base

    @property
    def api(self) -> int:
        return self.base + 1

    @property
    def triton(self) -> int:  # gRPC; HTTP and metrics on the next two
        return self.base + 2

    @property
    def translator(self) -> int:
        return self.base + 5

    def check_free(self) -> None:
        """Fail clearly when a port is taken (a run killed with SIGKILL leaves its children)."""
        import socket

        for port in range(self.base, self.base + 6):
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError as exc:
                    raise RuntimeError(
                        f"port {port} is in use ({exc}); the suite needs {self.base}-{self.base + 5} "
                        "(a killed run may have left processes: see `ps`)"
                    ) from None


@dataclass
class Cluster:
    """Every process of the suite, on the one supervisor (services/cli/supervisor.py); ``env`` is
    what each child is configured with."""

    workdir: Path
    ports: Ports
    env: dict[str, str]
    database_url: str
    model_repository: Path
    triton_venv: Path
    redis_server: Path
    workers: list[str]
    supervisor: Supervisor = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    """Held by whatever starts a process: nothing starts once :meth:`close` has begun."""

    def __post_init__(self) -> None:
        # Workers and the reconciler that exit are restarted at once (no backoff): the suite
        # kills them on purpose and measures how the pipeline copes.
        self.supervisor = Supervisor(self.env, max_backoff_s=0.0)
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        self.redis_dir = self.workdir / "redis"
        self.redis_dir.mkdir(exist_ok=True)
        redis = redis_server(
            "redis", self.ports.redis, self.redis_dir, persistent=True, binary=self.redis_server,
            log_path=self.workdir / "logs" / "redis.log", detached=True,
        )  # fmt: skip
        self.supervisor.add(redis)
        self._add(
            "triton",
            [
                *STANDINS, "triton", "--url", f"127.0.0.1:{self.ports.triton}",
                "--model-repository", str(self.model_repository), "--venv", str(self.triton_venv),
            ],
        )  # fmt: skip
        self._add("api", [*CATALOG, "api", "--host", "127.0.0.1", "--port", str(self.ports.api)])
        for kind in self.workers:  # the registry's kinds, the reconciler among them
            env = None
            if kind == "writer":  # named, so the suite can see it inside a transaction
                sep = "&" if "?" in self.database_url else "?"
                env = {"CATALOG_DATABASE_URL": f"{self.database_url}{sep}application_name={WRITER_APP_NAME}"}
            elif kind == "reconciler":  # passes every few seconds: the suite's run is short
                env = {"CATALOG_RECONCILE_INTERVAL_S": RECONCILE_INTERVAL_S}
            self._add(kind, [*CATALOG, "worker", kind], keep_alive=True, env=env)

    @property
    def procs(self) -> dict[str, ProcessSpec]:
        return self.supervisor.processes

    @property
    def pipeline(self) -> list[str]:
        """The processes started once Redis and Triton are up (the workers and the API), each once."""
        return [*self.workers, "api"]

    def _add(
        self, name: str, argv: list[str], keep_alive: bool = False, env: dict[str, str] | None = None
    ) -> None:
        log_path = self.workdir / "logs" / f"{name}.log"
        spec = ProcessSpec(name, [], argv, env or {}, log_path, keep_alive=keep_alive, detached=True)
        self.supervisor.add(spec)

    def start(self, name: str) -> None:
        """Start ``name`` unless the suite is closing."""
        with self._lock:
            if not self._stop.is_set():
                self.supervisor.start(name)

    def stop(self, name: str, timeout_s: float = 20.0) -> None:
        self.supervisor.stop(name, timeout_s)

    # --- Redis -----------------------------------------------------------------------------------
    def start_redis(self, timeout_s: float = 30.0) -> None:
        self.start("redis")
        if not self._stop.is_set():
            self.supervisor.wait_redis("redis", self.ports.redis, timeout_s)

    def stop_redis(self) -> None:
        """SIGTERM: Redis flushes its append-only file and exits."""
        self.stop("redis")

    def wipe_redis(self) -> None:
        """Redis loses its data: stopped, its files deleted (the next start is empty)."""
        self.stop_redis()
        shutil.rmtree(self.redis_dir)
        self.redis_dir.mkdir()

    # --- Triton ----------------------------------------------------------------------------------
    def start_triton(self, wait: bool = True, timeout_s: float = 180.0) -> None:
        self.start("triton")
        if wait and not self._stop.is_set():
            self.wait_triton(timeout_s)

    def wait_triton(self, timeout_s: float = 180.0) -> None:
        url = f"http://127.0.0.1:{self.ports.triton + 1}/v2/health/ready"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.procs["triton"].alive:
                raise RuntimeError(f"tritonserver exited; see {self.procs['triton'].log_path}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"tritonserver not ready after {timeout_s:.0f}s")

    # --- API and workers -------------------------------------------------------------------------
    def wait_api(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.procs["api"].alive:
                raise RuntimeError(f"the API exited; see {self.procs['api'].log_path}")
            try:
                httpx.get(f"http://127.0.0.1:{self.ports.api}/v1/models", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError("the API did not come up")

    def start_watchdog(self) -> None:
        threading.Thread(target=self._watch, name="chaos-watchdog", daemon=True).start()

    def _watch(self) -> None:
        """Restart workers and the reconciler that exited and are not held down."""
        while not self._stop.wait(0.3):
            with self._lock:
                if self._stop.is_set():
                    return
                self.supervisor.poll()

    def kill_and_restart(self, name: str, down_s: float) -> None:
        """SIGKILL ``name``; start it again after ``down_s``."""
        with self._lock:
            self.supervisor.kill(name)
        time.sleep(down_s)
        self.start(name)

    def close(self) -> None:
        with self._lock:  # from here on nothing starts (every start holds the lock)
            self._stop.set()
        for name in [*self.pipeline, "triton", "redis"]:
            try:
                self.stop(name, timeout_s=10)
            except Exception:  # never leave the others running because one refused to stop
                log.exception("could not stop %s", name)

    def tail(self, name: str, lines: int = 20) -> str:
        path = self.procs[name].log_path
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def base_env(
    ports: Ports, database_url: str, prefix: str, repository: Path, image_root: Path
) -> dict[str, str]:
    """What every child is configured with: loopback only, the suite's Redis, database and
    Triton, a short reclaim time and the default deliveries (an outage consumes none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(
        CATALOG_REDIS_URL=f"redis://127.0.0.1:{ports.redis}/0",
        CATALOG_DATABASE_URL=database_url,
        CATALOG_STREAM_PREFIX=prefix,
        CATALOG_MODEL_REPOSITORY=str(repository),
        CATALOG_INFERENCE_BACKEND="triton",
        CATALOG_TRITON_URL=f"127.0.0.1:{ports.triton}",
        CATALOG_INFERENCE_TIMEOUT_S="10",
        CATALOG_TRANSLATOR="google",
        CATALOG_TRANSLATOR_URL=f"http://127.0.0.1:{ports.translator}/",
        CATALOG_TRANSLATION_MAX_RETRIES="1",
        CATALOG_TRANSLATION_BACKOFF_S="0.05",
        CATALOG_TRANSLATION_TIMEOUT_S="3",
        CATALOG_IMAGE_ROOTS=f'["{image_root}"]',
        CATALOG_RECLAIM_IDLE_MS=str(RECLAIM_IDLE_MS),
        CATALOG_MAX_DELIVERIES=str(MAX_DELIVERIES),
        CATALOG_LOG_LEVEL="WARNING",
        CATALOG_VAR_DIR=str(image_root.parent / "var"),
    )
    return env
