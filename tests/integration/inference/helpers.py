"""Helpers shared by the inference integration tests and the pipeline e2e test."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TRITON_VENV = ROOT / ".venv-triton"


def ensure_triton_venv() -> Path:
    """The local Triton environment, created by deploy/triton/make_venv.sh if needed."""
    subprocess.run([str(ROOT / "deploy/triton/make_venv.sh"), str(TRITON_VENV)], check=True)
    return TRITON_VENV


def free_port_triple() -> int:
    """A port p with p, p+1 and p+2 free on 127.0.0.1 (gRPC, HTTP, metrics)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base > 65000:
            continue
        try:
            for offset in (1, 2):
                with socket.socket() as other:
                    other.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port triple")
