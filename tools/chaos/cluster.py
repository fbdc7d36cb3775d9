"""The processes of the fault-injection suite (``python -m tools.chaos``): a Redis server of its own with
append-only persistence, a local tritonserver, the API and one ``catalog worker`` per registered
kind (the reconciler among them, passing every 2 s), each a separate ``catalog`` process on
loopback, logging to its own file.

Workers and the reconciler that exit are restarted (as ``catalog up`` would); the suite stops
and starts the others itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

CATALOG = [sys.executable, "-m", "services.cli.main"]
STANDINS = [sys.executable, "-m", "tools.standins"]
ROOT = Path(__file__).resolve().parents[2]
"""The checkout: children run ``-m tools.standins`` from it, wherever the suite was started."""
WRITER_APP_NAME = "catalog-chaos-writer"
RECONCILE_INTERVAL_S = "2"
"""CATALOG_RECONCILE_INTERVAL_S of the suite's reconciler worker (production: 30 s)."""


@dataclass
class Proc:
    """One child process: how to start it and where its output goes."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    keep_alive: bool = False
    """Restarted by the watchdog when it exits (workers, reconciler)."""
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    """Every process started under this name: ``stop`` ends any still running, so a restart
    that raced the shutdown never outlives the suite."""
    held_down: bool = False
    crashes: int = 0

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            popen = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.started.append(popen)
        self.held_down = False

    @property
    def popen(self) -> subprocess.Popen[bytes] | None:
        """The latest process started under this name."""
        return self.started[-1] if self.started else None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int, hold: bool = False) -> None:
        """Send ``sig`` to the process; ``hold`` keeps the watchdog from restarting it."""
        self.held_down = hold or self.held_down
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(sig)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM every process started under this name that still runs; SIGKILL after
        ``timeout_s``."""
        self.held_down = True
        running = [popen for popen in self.started if popen.poll() is None]
        for popen in running:
            popen.send_signal(signal.SIGTERM)
        for popen in running:
            try:
                popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(timeout=5)


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
    """Every process of the suite; ``env`` is what each ``catalog`` child is configured with."""

    workdir: Path
    ports: Ports
    env: dict[str, str]
    database_url: str
    model_repository: Path
    triton_venv: Path
    redis_server: Path
    workers: list[str]
    procs: dict[str, Proc] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        redis_dir = self.workdir / "redis"
        redis_dir.mkdir(exist_ok=True)
        self.redis_dir = redis_dir
        self._add(
            "redis",
            [
                str(self.redis_server),
                "--port", str(self.ports.redis), "--bind", "127.0.0.1", "--dir", str(redis_dir),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                "--protected-mode", "yes", "--maxmemory-policy", "noeviction",
            ],
        )  # fmt: skip
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
    def pipeline(self) -> list[str]:
        """The processes started once Redis and Triton are up (the workers and the API), each once."""
        return [*self.workers, "api"]

    def _add(
        self, name: str, argv: list[str], keep_alive: bool = False, env: dict[str, str] | None = None
    ) -> None:
        if name in self.procs:
            raise ValueError(f"process {name!r} is already defined")
        self.procs[name] = Proc(
            name, argv, {**self.env, **(env or {})}, self.workdir / "logs" / f"{name}.log", keep_alive
        )

    # --- Redis -----------------------------------------------------------------------------------
    def start_redis(self, timeout_s: float = 30.0) -> None:
        import redis

        if self._stop.is_set():
            return
        self.procs["redis"].start()
        client = redis.Redis(port=self.ports.redis, socket_timeout=2)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                    pass
                if time.monotonic() > deadline or not self.procs["redis"].alive:
                    raise RuntimeError(f"redis-server did not start; see {self.procs['redis'].log_path}")
                time.sleep(0.1)
        finally:
            client.close()

    def stop_redis(self) -> None:
        """SIGTERM: Redis flushes its append-only file and exits."""
        self.procs["redis"].stop(timeout_s=20)

    def wipe_redis(self) -> None:
        """Redis loses its data: stopped, its files deleted (the next start is empty)."""
        self.stop_redis()
        shutil.rmtree(self.redis_dir)
        self.redis_dir.mkdir()

    # --- Triton ----------------------------------------------------------------------------------
    def start_triton(self, wait: bool = True, timeout_s: float = 180.0) -> None:
        if self._stop.is_set():
            return
        self.procs["triton"].start()
        if wait:
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
                for proc in self.procs.values():
                    if proc.keep_alive and not proc.held_down and proc.popen is not None and not proc.alive:
                        proc.crashes += 1
                        log.warning("%s exited (code %s); restarting", proc.name, proc.popen.returncode)
                        proc.start()

    def kill_and_restart(self, name: str, down_s: float) -> None:
        """SIGKILL ``name``; start it again after ``down_s``."""
        proc = self.procs[name]
        with self._lock:
            proc.signal(signal.SIGKILL, hold=True)
        time.sleep(down_s)
        with self._lock:
            if proc.popen is not None:
                proc.popen.wait(timeout=10)
            if not self._stop.is_set():  # never start anything once the suite is closing
                proc.start()

    def close(self) -> None:
        with self._lock:
            self._stop.set()
        order = [*self.pipeline, "triton", "redis"]
        for sweep in range(2):  # the second catches a restart that raced the first
            for name in order:
                try:
                    self.procs[name].stop(timeout_s=10)
                except Exception:  # never leave the others running because one refused to stop
                    log.exception("could not stop %s", name)
            if sweep == 0:
                time.sleep(0.5)

    def tail(self, name: str, lines: int = 20) -> str:
        path = self.procs[name].log_path
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def base_env(
    ports: Ports, database_url: str, prefix: str, repository: Path, image_root: Path
) -> dict[str, str]:
    """What every child is configured with: loopback only, the suite's Redis, database and
    Triton, a short reclaim time and enough deliveries to outlive every fault."""
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
        CATALOG_RECLAIM_IDLE_MS="4000",
        CATALOG_MAX_DELIVERIES="200",
        CATALOG_LOG_LEVEL="WARNING",
        CATALOG_VAR_DIR=str(image_root.parent / "var"),
    )
    return env
