"""The inference commands as users run them (real subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shared.ml.model_repo import Manifest
from tests.integration.inference.helpers import free_port_triple

CATALOG = [sys.executable, "-m", "services.cli.main"]
STANDINS = [sys.executable, "-m", "tools.standins"]


def env_for(repo: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "CATALOG_MODEL_REPOSITORY": str(repo),
        "CATALOG_TRANSLATOR": "none",
        "CATALOG_LOG_LEVEL": "WARNING",
        **extra,
    }


def test_classify_json_and_errors(model_repo: tuple[Path, Manifest], tmp_path: Path) -> None:
    repo, manifest = model_repo
    run = subprocess.run(
        [*CATALOG, "classify", "--title", "Roman policier", "--description", "un livre", "--json"],
        env=env_for(repo),
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(run.stdout)
    assert result["prdtypecode"] == 10 and result["model_version"] == manifest.version
    assert result["modalities"] == ["text"] and result["image_missing_reason"] == "no_image"
    empty = subprocess.run([*CATALOG, "classify"], env=env_for(repo), capture_output=True, text=True)
    assert empty.returncode == 2 and "at least one of" in empty.stderr
    absent = subprocess.run(
        [*CATALOG, "classify", "--title", "x"], env=env_for(tmp_path / "none"), capture_output=True, text=True
    )
    assert absent.returncode == 2 and "catalog train" in absent.stderr


def test_bench_inference_writes_json(model_repo: tuple[Path, Manifest], tmp_path: Path) -> None:
    repo, _ = model_repo
    out = tmp_path / "bench.json"
    subprocess.run(
        [*CATALOG, "bench", "inference", "--json", str(out), "--n", "12", "--batch-size", "4"],
        env=env_for(repo),
        capture_output=True,
        check=True,
    )
    body = json.loads(out.read_text())
    assert body["offers"] == 12 and body["backend"] == "local"
    assert body["text_encoder"]["offers_per_s"] > 0 and body["image_encoder"]["offers_per_s"] > 0


@pytest.mark.triton
def test_triton_command_serves_and_stops(
    model_repo: tuple[Path, Manifest], triton_venv: Path, tmp_path: Path
) -> None:
    repo, _ = model_repo
    port = free_port_triple()
    env = env_for(repo, CATALOG_TRITON_URL=f"127.0.0.1:{port}", CATALOG_TRITON_VENV=str(triton_venv))
    with open(tmp_path / "triton.log", "wb") as log:
        process = subprocess.Popen([*STANDINS, "triton"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            ready = False
            deadline = time.monotonic() + 120
            while not ready and time.monotonic() < deadline and process.poll() is None:
                try:
                    url = f"http://127.0.0.1:{port + 1}/v2/models/text_tiny/versions/1/ready"
                    ready = httpx.get(url, timeout=2).status_code == 200
                except httpx.HTTPError:
                    time.sleep(0.3)
            assert ready, (tmp_path / "triton.log").read_text()[-2000:]
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=60)
    assert code == 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port + 1}/v2/health/ready", timeout=2)


ORPHAN_SCRIPT = """
import os, sys
from pathlib import Path
from tools.standins.tritonserver.launcher import LocalTritonServer
server = LocalTritonServer(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
server.start()
print(server.process.pid, flush=True)
os._exit(0)  # the parent dies without stopping the server
"""


@pytest.mark.triton
def test_server_dies_with_its_parent(model_repo: tuple[Path, Manifest], triton_venv: Path) -> None:
    url = f"127.0.0.1:{free_port_triple()}"
    run = subprocess.run(
        [sys.executable, "-c", ORPHAN_SCRIPT, str(model_repo[0]), url, str(triton_venv)],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(run.stdout.split()[-1])
    deadline = time.monotonic() + 60
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(pid), "tritonserver outlived its parent"


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
