"""The one process launcher: ``catalog up``, the demo, the benchmarks' private pipeline and the
fault-injection suite (tools/chaos) all start, watch, restart with backoff and stop their
children here; :func:`redis_server` is the one redis-server command line the project starts."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import redis

from shared.config import Settings
from shared.redis_conn import resolve_redis_url

log = logging.getLogger(__name__)
CATALOG = [sys.executable, "-m", "services.cli.main"]


@dataclass
class ProcessSpec:
    """One child: ``catalog <args>``, or the program ``command`` names."""

    name: str
    args: list[str]
    command: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    """Set for this child on top of the supervisor's environment."""
    log_path: Path | None = None
    """Where its stdout and stderr are appended (default: the supervisor's own)."""
    keep_alive: bool = True
    """Restarted (with backoff) when it exits, unless held down by :meth:`Supervisor.stop`."""
    detached: bool = False
    """In a session of its own: a Ctrl-C in the terminal reaches the supervisor only."""
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    crashes: int = 0
    """Exits the supervisor restarted it after (never reset)."""
    next_start: float = 0.0
    started_at: float = 0.0
    held_down: bool = False

    @property
    def argv(self) -> list[str]:
        return self.command or [*CATALOG, *self.args]

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def redis_server(
    name: str,
    port: int,
    folder: Path,
    *,
    persistent: bool,
    binary: Path | None = None,
    log_path: Path | None = None,
    detached: bool = False,
) -> ProcessSpec:
    """A redis-server on 127.0.0.1:``port`` keeping its files in ``folder``: with ``persistent``,
    an append-only file synced on every write (a restart keeps the data), else nothing on disk."""
    program = str(binary) if binary else shutil.which("redis-server")
    if program is None:
        raise RuntimeError("redis-server is not on PATH: install Redis (or pass a Redis URL)")
    keep = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
    command = [program, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), *keep,
               "--save", "", "--protected-mode", "yes", "--maxmemory-policy", "noeviction"]  # fmt: skip
    return ProcessSpec(name, [], command, keep_alive=False, log_path=log_path, detached=detached)


class Supervisor:
    """Runs its children with ``env`` (plus each one's own); ``metrics_port``: one metrics port per
    child from there, stable across restarts."""

    def __init__(
        self,
        env: Mapping[str, str],
        specs: Iterable[ProcessSpec] = (),
        *,
        max_backoff_s: float = 30.0,
        metrics_port: int | None = None,
    ):
        self.env = dict(env)
        self.max_backoff_s = max_backoff_s
        self.metrics_port = metrics_port
        self.processes: dict[str, ProcessSpec] = {}
        self._stopping = False
        for spec in specs:
            self.add(spec)

    @classmethod
    def for_settings(
        cls, settings: Settings, specs: Iterable[ProcessSpec], extra_env: Mapping[str, str] | None = None
    ) -> Supervisor:
        """``catalog`` children sharing one Redis (embedded, started here, when none is configured)
        and one database."""
        env = dict(os.environ)
        env["CATALOG_REDIS_URL"] = resolve_redis_url(settings)
        env["CATALOG_DATABASE_URL"] = settings.effective_database_url
        env.update(extra_env or {})
        return cls(env, specs, metrics_port=settings.metrics_port)

    @property
    def specs(self) -> list[ProcessSpec]:
        return list(self.processes.values())

    def add(self, spec: ProcessSpec) -> None:
        if spec.name in self.processes:
            raise ValueError(f"process {spec.name!r} is already defined")
        self.processes[spec.name] = spec

    def start(self, name: str) -> None:
        spec = self.processes[name]
        env = {**self.env, **spec.env}
        if self.metrics_port is not None:
            env["CATALOG_METRICS_PORT"] = str(self.metrics_port + list(self.processes).index(name))
        out = spec.log_path.open("ab") if spec.log_path else None
        try:
            spec.process = subprocess.Popen(
                spec.argv,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
                stdin=subprocess.DEVNULL if spec.detached else None,
                start_new_session=spec.detached,
            )
        finally:
            if out:
                out.close()
        spec.started_at = time.monotonic()
        spec.held_down = False
        log.info("started", extra={"child": spec.name, "pid": spec.process.pid})

    def start_all(self, only: set[str] | None = None) -> None:
        """Start every child not running yet (or only those named in ``only``)."""
        for spec in self.specs:
            if spec.process is None and (only is None or spec.name in only):
                self.start(spec.name)

    def poll(self) -> None:
        """Restart the kept-alive children that exited, with exponential backoff."""
        now = time.monotonic()
        for spec in self.specs:
            if not spec.keep_alive or spec.held_down:
                continue
            proc = spec.process
            if proc is None:
                if now >= spec.next_start:
                    self.start(spec.name)
                continue
            code = proc.poll()
            if code is None:
                if now - spec.started_at > 60:
                    spec.restarts = 0  # healthy for a minute: forget past crashes
                continue
            spec.restarts += 1
            spec.crashes += 1
            delay = min(self.max_backoff_s, 0.5 * 2**spec.restarts)
            log.warning("process exited; restarting", extra={"child": spec.name, "code": code, "in_s": delay})
            spec.process = None
            spec.next_start = now + delay
            if delay <= 0:
                self.start(spec.name)

    def kill(self, name: str) -> None:
        """SIGKILL ``name`` and hold it down (the fault-injection suite starts it again)."""
        spec = self.processes[name]
        spec.held_down = True
        if spec.alive:
            assert spec.process is not None
            spec.process.kill()
            spec.process.wait(timeout=10)

    def stop(self, name: str, timeout_s: float = 20.0) -> None:
        """SIGTERM ``name`` (SIGKILL after ``timeout_s``) and hold it down until started again."""
        self.stop_all(timeout_s, only={name})

    def stop_all(self, timeout_s: float = 20.0, only: set[str] | None = None) -> None:
        specs = [s for s in self.specs if only is None or s.name in only]
        for spec in specs:
            spec.held_down = True
            if spec.alive:
                assert spec.process is not None
                spec.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for spec in specs:
            if spec.process is None:
                continue
            try:
                spec.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                spec.process.kill()
                spec.process.wait(timeout=5)
        if only is None:
            log.info("all processes stopped")

    def wait_redis(self, name: str, port: int, timeout_s: float = 30.0) -> None:
        """Until the redis-server child ``name`` answers PING (its append-only file loaded)."""
        client = redis.Redis(port=port, socket_timeout=2)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                    pass
                if time.monotonic() > deadline or not self.processes[name].alive:
                    where = self.processes[name].log_path or "its output"
                    raise RuntimeError(f"redis-server did not start on port {port}; see {where}")
                time.sleep(0.05)
        finally:
            client.close()

    def run_forever(self, started: bool = False) -> None:
        def _stop(signum: int, _frame: FrameType | None) -> None:
            self._stopping = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        if not started:
            self.start_all()
        try:
            while not self._stopping:
                self.poll()
                time.sleep(0.5)
        finally:
            self.stop_all()
