"""`catalog up`: supervised workers, restart after a crash, clean stop on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import redis

from tests.conftest import REDIS_URL
from tests.waiting import eventually_sync

ROOT = Path(__file__).resolve().parents[3]


def consumers(client: redis.Redis, key: str, group: str) -> set[str]:
    try:
        return {c["name"].decode() for c in client.xinfo_consumers(key, group)}
    except redis.ResponseError:
        return set()


def test_up_restarts_a_crashed_worker_and_stops_cleanly_on_ctrl_c(redis_prefix: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
    env.update(
        CATALOG_REDIS_URL=REDIS_URL,
        CATALOG_STREAM_PREFIX=redis_prefix,
        CATALOG_VAR_DIR=str(tmp_path),
        CATALOG_TRANSLATOR="none",
    )
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli.main",
            "up",
            "--only",
            "language",
            "--replicas",
            "language=2",
            "--no-api",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    client = redis.Redis.from_url(REDIS_URL)
    key = f"{redis_prefix}listings.submitted"
    try:
        eventually_sync(lambda: len(consumers(client, key, "language")) == 2, timeout_s=60)
        first = consumers(client, key, "language")
        children = subprocess.run(["pgrep", "-P", str(up.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) == 2
        os.kill(int(children[0]), signal.SIGKILL)
        # The supervisor starts a replacement: a new consumer name joins the group.
        eventually_sync(lambda: len(consumers(client, key, "language") - first) == 1, timeout_s=60)

        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0
        left = subprocess.run(["pgrep", "-P", str(up.pid)], capture_output=True, text=True)
        assert left.stdout.strip() == ""
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
        client.close()
