"""A worker's HTTP endpoint: Prometheus ``/metrics``, ``/livez`` and ``/readyz``.

The server runs in a thread of its own, so it still answers when the worker's event loop is
stuck, and says so: a task on the loop (:meth:`Health.run`) stamps a heartbeat every
``interval_s`` and runs the readiness checks (Redis ping, dependencies opened, model loaded);
the HTTP thread only reads what that task last recorded.

- ``/livez`` is 200 while the heartbeat is younger than ``stall_after_s`` and no fatal error was
  recorded (a background task of the worker died): a failing liveness probe restarts the pod.
- ``/readyz`` is 200 when the worker is live and every check passed on the last beat.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from redis.asyncio import Redis

from shared.metrics import GROUP_LAG, GROUP_PENDING, PENDING_OLDEST_SECONDS, WORKER_READY

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[None]]
"""A readiness check: returns when ready, raises with the reason otherwise."""


class Health:
    """What the probes report, recorded by the worker's own event loop."""

    def __init__(
        self, name: str, interval_s: float = 2.0, stall_after_s: float = 60.0, check_timeout_s: float = 5.0
    ):
        self.name = name
        self.interval_s = interval_s
        self.stall_after_s = stall_after_s
        self.check_timeout_s = check_timeout_s
        self.checks: dict[str, Check] = {}
        self.results: dict[str, str | None] = {"started": "not started yet"}
        self.heartbeat = time.monotonic()
        self.fatal: str | None = None
        self._lock = threading.Lock()

    def add_check(self, name: str, check: Check) -> None:
        self.checks[name] = check

    def fail(self, reason: str) -> None:
        """Something the process cannot recover from: liveness fails, the pod is restarted."""
        with self._lock:
            self.fatal = reason

    async def beat_once(self) -> None:
        results: dict[str, str | None] = {}
        for name, check in self.checks.items():
            try:
                await asyncio.wait_for(check(), self.check_timeout_s)
                results[name] = None
            except Exception as exc:  # any failure is a reason not to be ready, never a crash
                results[name] = f"{type(exc).__name__}: {exc}"[:500]
        with self._lock:
            self.results = results
            self.heartbeat = time.monotonic()
            ready = self.fatal is None and all(error is None for error in results.values())
        WORKER_READY.labels(worker=self.name).set(1 if ready else 0)

    async def run(self) -> None:
        """The heartbeat task (on the worker's event loop)."""
        while True:
            await self.beat_once()
            await asyncio.sleep(self.interval_s)

    def live(self) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            age = time.monotonic() - self.heartbeat
            fatal = self.fatal
        ok = fatal is None and age < self.stall_after_s
        body: dict[str, Any] = {"worker": self.name, "heartbeat_age_s": round(age, 3)}
        if fatal is not None:
            body["error"] = fatal
        elif not ok:
            body["error"] = f"event loop unresponsive for {age:.0f} s"
        return ok, body

    def ready(self) -> tuple[bool, dict[str, Any]]:
        live, body = self.live()
        with self._lock:
            results = dict(self.results)
        failing = {name: error for name, error in results.items() if error is not None}
        body["checks"] = {name: error or "ok" for name, error in results.items()}
        return live and not failing, body


async def record_group_gauges(redis: Redis, key: str, group: str) -> None:
    """Lag, pending count and oldest pending age of ``group`` on ``key``, as gauges (alerts)."""
    groups: Any = await redis.xinfo_groups(key)
    for info in groups:
        name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
        if name != group:
            continue
        GROUP_LAG.labels(stream=key, group=group).set(int(info.get("lag") or 0))
        GROUP_PENDING.labels(stream=key, group=group).set(int(info.get("pending") or 0))
    summary: Any = await redis.xpending(key, group)
    oldest = summary.get("min") if summary and summary.get("pending") else None
    age = 0.0
    if oldest:
        oldest_id = oldest.decode() if isinstance(oldest, bytes) else str(oldest)
        age = max(0.0, time.time() - int(oldest_id.split("-")[0]) / 1000)
    PENDING_OLDEST_SECONDS.labels(stream=key, group=group).set(age)


def serve(health: Health, host: str, port: int) -> ThreadingHTTPServer:
    """Start the endpoint in a daemon thread; ``shutdown()`` + ``server_close()`` stop it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path in ("/livez", "/readyz"):
                ok, body = health.live() if path == "/livez" else health.ready()
                self._send(200 if ok else 503, json.dumps(body).encode(), "application/json")
            else:
                self._send(404, b'{"error": "not found: /metrics, /livez, /readyz"}', "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: quiet
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"health-{health.name}", daemon=True).start()
    return server
