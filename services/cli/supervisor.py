"""A small process supervisor for ``catalog up`` and ``catalog demo``: start, watch, restart
with backoff, and stop every child cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

from shared.config import Settings
from shared.redis_conn import resolve_redis_url

log = logging.getLogger(__name__)


@dataclass
class ProcessSpec:
    name: str
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)


class Supervisor:
    """Runs ``catalog <args>`` children sharing one Redis (embedded when none is configured)."""

    def __init__(
        self,
        settings: Settings,
        specs: list[ProcessSpec],
        max_backoff_s: float = 30.0,
        extra_env: dict[str, str] | None = None,
    ):
        self.settings = settings
        self.specs = specs
        self.max_backoff_s = max_backoff_s
        self._stopping = False
        self.env = dict(os.environ)
        self.env["CATALOG_REDIS_URL"] = resolve_redis_url(settings)
        self.env["CATALOG_DATABASE_URL"] = settings.effective_database_url
        self.env.update(extra_env or {})

    def start_all(self, only: set[str] | None = None) -> None:
        """Start every child not running yet (or only those named in ``only``)."""
        for spec in self.specs:
            if spec.process is None and (only is None or spec.name in only):
                self._start(spec)

    def _start(self, spec: ProcessSpec) -> None:
        cmd = [sys.executable, "-m", "services.cli.main", *spec.args]
        env = self.env
        if self.settings.metrics_port is not None:
            # One metrics port per child, stable across restarts.
            index = self.specs.index(spec)
            env = {**self.env, "CATALOG_METRICS_PORT": str(self.settings.metrics_port + index)}
        spec.process = subprocess.Popen(cmd, env=env)
        spec.started_at = time.monotonic()
        log.info("started", extra={"child": spec.name, "pid": spec.process.pid})

    def poll(self) -> None:
        """Restart children that exited, with exponential backoff."""
        now = time.monotonic()
        for spec in self.specs:
            proc = spec.process
            if proc is None:
                if now >= spec.next_start:
                    self._start(spec)
                continue
            code = proc.poll()
            if code is None:
                if now - spec.started_at > 60:
                    spec.restarts = 0  # healthy for a minute: forget past crashes
                continue
            spec.restarts += 1
            delay = min(self.max_backoff_s, 0.5 * 2**spec.restarts)
            log.warning(
                "process exited; restarting",
                extra={"child": spec.name, "code": code, "in_s": delay},
            )
            spec.process = None
            spec.next_start = now + delay

    def stop_all(self, timeout_s: float = 20.0) -> None:
        procs = [s.process for s in self.specs if s.process is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        log.info("all processes stopped")

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
