"""Property-based contract tests of the HTTP API (schemathesis, pinned in the dev extras).

The real app runs under uvicorn on loopback (its own port, SQLite, a Redis key prefix of its
own); schemathesis's command line, as a new user would run it, generates requests from the
OpenAPI document with every check on: no server error, and no mismatch between the document and
what the API does (status codes, content types, bodies, auth, methods), with and without the
token, and with auth off. The run is bounded and deterministic (fixed examples, no randomness).

A fourth run (marked slow: ~20-40 s more, alone, on a loaded 2-core machine) adds the coverage
phase with the token: its boundary and just-outside-the-schema cases (empty strings against a
pattern, ``minimum - 1``, control characters, the last allowed year) are where the document and
the validation used to disagree (an empty ``image_uri`` accepted against the pattern, U+001D
refused as blank while the schema's non-space class allowed it, ``ge``/``le`` instead of
``minimum``/``maximum``). Without the token every write is a 401: coverage there would only
repeat the reads.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from services.cli.wiring import api_app
from shared.config import Settings
from shared.contract import CategoryScore
from tests.conftest import REDIS_URL

TOKEN = "contract-token"
ST = Path(sys.executable).with_name("st")


class FixedClassifier:
    """A stand-in for the models (the contract is the API's, not the models'): always top 3."""

    async def classify(self, title: str, description: str | None, image: bytes | None) -> Any:
        return {"top_k": [CategoryScore(prdtypecode=c, label=str(c), probability=0.3) for c in (10, 40, 50)]}


def free_port() -> int:
    """A free port in this task's range (18100-18199)."""
    for port in range(18150, 18200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18150-18199")


def serve(settings: Settings) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        api_app(settings, classifier=FixedClassifier()), host="127.0.0.1", port=port, log_level="error"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def apis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One server with auth on (a token set) and one with CATALOG_API_AUTH=off, for the module."""
    import redis

    prefix = f"rel-contract-{uuid.uuid4().hex[:8]}:"
    bases: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        for auth in ("on", "off"):
            tmp = tmp_path_factory.mktemp(f"contract-{auth}")
            settings = Settings(
                redis_url=REDIS_URL,
                stream_prefix=f"{prefix}{auth}:",
                database_url=f"sqlite:///{tmp / 'contract.db'}",
                api_token=TOKEN,
                api_auth=auth,
                model_repository=tmp / "models",
                var_dir=tmp / "var",
            )
            bases[auth] = stack.enter_context(contextlib.contextmanager(serve)(settings))
        yield bases
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


MODES = {"token": ("on", True), "no-token": ("on", False), "auth-off": ("off", False)}


def schemathesis(base: str, *headers: str, phases: str, cwd: Path) -> subprocess.Popen[str]:
    command = [str(ST) if ST.exists() else shutil.which("st") or "st", "run", f"{base}/openapi.json"]
    command += ["--checks", "all", "--max-examples", "3", "--generation-deterministic", "--no-shrink"]
    command += ["--workers", "1", "--phases", phases, "--request-timeout", "30"]
    for header in headers:
        command += ["-H", header]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def runs(apis: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    """The three schemathesis runs, side by side (each is bounded: 3 examples per operation)."""
    started = {
        mode: schemathesis(
            apis[auth],
            *([f"Authorization: Bearer {TOKEN}"] if with_token else []),
            phases="examples,fuzzing",
            cwd=tmp_path_factory.mktemp(f"st-{mode}"),
        )
        for mode, (auth, with_token) in MODES.items()
    }
    return {mode: (p.wait(timeout=600), p.stdout.read() if p.stdout else "") for mode, p in started.items()}


@pytest.mark.parametrize("mode", list(MODES))
def test_api_matches_its_openapi_document(runs: dict[str, tuple[int, str]], mode: str) -> None:
    returncode, output = runs[mode]
    assert returncode == 0, output[-8000:]
    assert "Schemathesis" in output and "Fuzzing" in output, output[-2000:]


@pytest.mark.slow
def test_boundary_cases_match_the_document(apis: dict[str, str], tmp_path: Path) -> None:
    """The coverage phase, with the token (a fixed set of cases per operation)."""
    run = schemathesis(apis["on"], f"Authorization: Bearer {TOKEN}", phases="examples,coverage", cwd=tmp_path)
    returncode, output = run.wait(timeout=600), run.stdout.read() if run.stdout else ""
    assert returncode == 0, output[-8000:]
    assert "✅ Coverage" in output and "Test cases:" in output, output[-2000:]
