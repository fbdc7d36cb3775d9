"""Issue 24 item 13: the model-rollout controller's liveness and readiness probes read the
heartbeat its loop writes; a loop stuck in a call that never returns fails the probe."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from services.rollout.controller import TritonControl, watch
from services.rollout.heartbeat import HEARTBEAT_NAME, beat, main
from tests.unit.inference.repo_fixture import build_repository
from tests.unit.inference.test_rollout import FakeTriton
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[3]
PROBE = [sys.executable, "-m", "services.rollout.heartbeat"]


def probe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The probe command the manifests run, as a process."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([*PROBE, *args], capture_output=True, text=True, env=environ, cwd=ROOT, timeout=60)


class HangingTriton(FakeTriton):
    """Answers until ``hang`` is set; then the next call never returns (a stuck gRPC call)."""

    def __init__(self, repository: Path) -> None:
        super().__init__(repository)
        self.hang = False
        self.stuck = asyncio.Event()

    async def get_model_repository_index(self, as_json: bool) -> dict[str, object]:
        if self.hang:
            self.stuck.set()
            await asyncio.Event().wait()  # never set
        return await super().get_model_repository_index(as_json)


def _state(path: Path) -> dict[str, object]:
    return dict(json.loads(path.read_text())) if path.exists() else {}


async def test_the_probe_fails_once_the_loop_hangs(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    build_repository(root, revision=1, seed=1)
    heartbeat = tmp_path / "var" / HEARTBEAT_NAME
    triton = HangingTriton(root)
    control = TritonControl("127.0.0.1:1", attempts=2, wait_s=0.01, client=triton)
    task = asyncio.create_task(watch(control, root, 2, 0.01, heartbeat=heartbeat))
    try:
        await eventually(lambda: _state(heartbeat).get("ok") is True, timeout_s=30)
        live = await asyncio.to_thread(probe, "--file", str(heartbeat), "--max-age-s", "60")
        ready = await asyncio.to_thread(probe, "--file", str(heartbeat), "--max-age-s", "60", "--ready")
        assert (live.returncode, ready.returncode) == (0, 0), live.stderr + ready.stderr
        triton.hang = True
        await asyncio.wait_for(triton.stuck.wait(), timeout=30)
        last = _state(heartbeat)["ts"]
        await asyncio.sleep(0.5)  # the loop is stuck for good: the beat can only grow older
        assert _state(heartbeat)["ts"] == last and not task.done()
        stuck = await asyncio.to_thread(probe, "--file", str(heartbeat), "--max-age-s", "0.3")
        assert stuck.returncode == 1 and "stuck" in stuck.stderr
    finally:
        task.cancel()


async def test_a_failing_pass_is_alive_but_not_ready(tmp_path: Path) -> None:
    """Triton down: the loop turns (live), its passes fail (unready) until Triton answers."""
    root = tmp_path / "repo"
    build_repository(root, revision=1, seed=1)
    heartbeat = tmp_path / HEARTBEAT_NAME
    triton = FakeTriton(root)
    triton.down = True
    control = TritonControl("127.0.0.1:1", attempts=1, wait_s=0.01, client=triton)
    task = asyncio.create_task(watch(control, root, 2, 0.01, heartbeat=heartbeat))
    try:
        await eventually(lambda: "ts" in _state(heartbeat), timeout_s=30)
        assert main(["--file", str(heartbeat), "--max-age-s", "60"]) == 0
        assert main(["--file", str(heartbeat), "--max-age-s", "60", "--ready"]) == 1
        triton.down = False
        await eventually(lambda: _state(heartbeat).get("ok") is True, timeout_s=30)
        assert main(["--file", str(heartbeat), "--max-age-s", "60", "--ready"]) == 0
    finally:
        task.cancel()


@pytest.mark.parametrize(
    ("content", "age_s", "ready", "code"),
    [
        (None, 0, False, 1),  # the loop never turned
        ("not json", 0, False, 1),
        ({"ok": True}, 0, False, 1),  # no time in it
        ({"ok": True}, 1, False, 0),
        ({"ok": True}, 1, True, 0),
        ({"ok": False}, 1, False, 0),  # alive, last pass failed
        ({"ok": False}, 1, True, 1),
        ({"ok": True}, 120, False, 1),  # stale: stuck
        ({"ok": True}, 120, True, 1),
    ],
)
def test_probe_verdicts(tmp_path: Path, content: object, age_s: float, ready: bool, code: int) -> None:
    path = tmp_path / HEARTBEAT_NAME
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, dict):
        state = {**content, "ts": time.time() - age_s} if age_s else content
        path.write_text(json.dumps(state))
    assert main(["--file", str(path), "--max-age-s", "60", *(["--ready"] if ready else [])]) == code


def test_the_probe_reads_the_file_the_controller_writes_by_default(tmp_path: Path) -> None:
    """No flags (as the manifests run it): CATALOG_VAR_DIR/rollout.heartbeat and the setting."""
    env = {"CATALOG_VAR_DIR": str(tmp_path), "CATALOG_ROLLOUT_HEARTBEAT_MAX_AGE_S": "60"}
    assert probe(env=env).returncode == 1
    beat(tmp_path / HEARTBEAT_NAME, ok=True)
    assert probe(env=env).returncode == 0
    assert probe(env={**env, "CATALOG_ROLLOUT_HEARTBEAT_MAX_AGE_S": "0.000001"}).returncode == 1


def test_kubernetes_and_compose_probe_the_heartbeat() -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy/k8s/base/model-rollout.yaml").read_text()))
    (deployment,) = [d for d in docs if d and d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["rollout", "--watch"]
    assert container["livenessProbe"]["exec"]["command"] == ["python", "-m", "services.rollout.heartbeat"]
    assert container["readinessProbe"]["exec"]["command"] == [
        "python",
        "-m",
        "services.rollout.heartbeat",
        "--ready",
    ]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["rollout"]
    assert compose["command"] == ["rollout", "--watch"]
    assert compose["healthcheck"]["test"] == ["CMD", "python", "-m", "services.rollout.heartbeat"]
