"""Two fault classes of the chaos suite (``python -m tools.chaos``, issue 24): a SQL outage
longer than reclaim x deliveries, and a Redis restart under the ``catalog reclassify`` runner.

- **SQL outage**: the suite's scratch database is closed to every client (``ALTER DATABASE ...
  ALLOW_CONNECTIONS false``, its sessions terminated: what the writer, the API and the
  reconciler see is PostgreSQL refusing them) for 1.5 x ``reclaim_idle_ms`` x
  ``max_deliveries``, then opened again. Nothing may be dead-lettered for it (the run's dead
  letter check already fails on any offer's), nothing lost, and every submission recorded
  before the database came back must be closed within ``drain_limit_s`` of its return.
- **Redis restart under the CLI runner**: ``catalog reclassify`` runs a job over the listings
  stored so far; once it has published its first page Redis is restarted (SIGTERM, append-only
  file kept). The runner must wait it out and finish the job: exit 0, no traceback.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from shared.contract import utcnow
from shared.db.models import ReclassificationJob
from shared.db.session import session_scope, set_connections_allowed
from tools.chaos.checks import count_open
from tools.chaos.cluster import Cluster

log = logging.getLogger(__name__)


class SqlOutage:
    """The database away for ``duration_s``; then how long the backlog took to drain."""

    def __init__(self, cluster: Cluster, admin_url: str, duration_s: float, drain_limit_s: float) -> None:
        self.cluster, self.admin_url = cluster, admin_url
        self.duration_s, self.drain_limit_s = duration_s, drain_limit_s
        self.drained_s: float | None = None
        self.back_at: datetime | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        set_connections_allowed(self.admin_url, self.cluster.database_url, False)
        try:
            self.stop.wait(self.duration_s)
        finally:
            set_connections_allowed(self.admin_url, self.cluster.database_url, True)
        self.back_at = utcnow()
        threading.Thread(target=self._watch_drain, name="chaos-sql-drain", daemon=True).start()

    def _watch_drain(self) -> None:
        back, started = self.back_at, time.monotonic()
        assert back is not None
        while not self.stop.is_set():
            try:
                if count_open(self.cluster.database_url, submitted_until=back) == 0:
                    self.drained_s = time.monotonic() - started
                    return
            except Exception as exc:  # the database is back, but a read may still fail once
                log.warning("drain check failed: %s", exc)
            time.sleep(0.5)

    def problems(self) -> list[str]:
        if self.back_at is None:
            return []
        if self.drained_s is None:
            return ["the submissions recorded before the SQL outage ended were never all closed"]
        if self.drained_s > self.drain_limit_s:
            return [
                f"the SQL outage's backlog drained in {self.drained_s:.0f} s (> {self.drain_limit_s:.0f} s)"
            ]
        return []


class RunnerUnderRedisRestart:
    """``catalog reclassify`` started, Redis restarted under it once its job is publishing."""

    def __init__(self, cluster: Cluster, workdir: Path) -> None:
        self.cluster = cluster
        self.log_path = workdir / "logs" / "reclassify-cli.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self.restarted = False

    def run(self, within_s: float = 120.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.cluster.env}
        argv = [
            sys.executable,
            "-m",
            "services.cli.main",
            "reclassify",
            "--page-size",
            "50",
            "--stall-timeout",
            "600",
        ]
        with self.log_path.open("wb") as out:
            self.popen = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline and self.popen.poll() is None:
            if self._published() > 0:
                self.cluster.stop_redis()
                time.sleep(2.0)
                self.cluster.start_redis()
                self.restarted = True
                return
            time.sleep(0.2)

    def _published(self) -> int:
        with session_scope(self.cluster.database_url) as session:
            return int(session.scalar(select(func.coalesce(func.max(ReclassificationJob.published), 0))) or 0)

    def finish(self, timeout_s: float) -> list[str]:
        """Wait for the runner; what went wrong with it."""
        if self.popen is None:
            return []
        try:
            self.popen.wait(timeout=max(1.0, timeout_s))
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)
            return [f"catalog reclassify did not finish (see {self.log_path})"]
        output = self.log_path.read_text(errors="replace")
        problems = []
        if not self.restarted:
            problems.append("Redis was not restarted under the reclassify runner (it never published)")
        if self.popen.returncode != 0 or "Traceback" in output:
            problems.append(
                f"catalog reclassify exited {self.popen.returncode} under a Redis restart: {output[-300:]!r}"
            )
        return problems
