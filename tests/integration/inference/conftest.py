from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import Settings
from shared.ml.model_repo import Manifest
from tests.conftest import REDIS_URL
from tests.integration.inference.helpers import ensure_triton_venv, free_port_triple
from tests.unit.inference.repo_fixture import build_repository


@pytest.fixture
def model_repo(tmp_path: Path) -> tuple[Path, Manifest]:
    root = tmp_path / "model_repository"
    return root, build_repository(root)


@pytest.fixture
def settings(redis_prefix: str, model_repo: tuple[Path, Manifest], tmp_path: Path) -> Settings:
    return Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        model_repository=model_repo[0],
        model_poll_interval_s=0,
        translator="none",
        image_roots=[tmp_path],
        batch_size=8,
        reclaim_idle_ms=2000,
        database_url=f"sqlite:///{tmp_path / 'catalog.db'}",  # the language worker's ledger
    )


@pytest.fixture(scope="session")
def triton_venv() -> Path:
    """The local Triton environment, created by deploy/triton/make_venv.sh if needed."""
    return ensure_triton_venv()


@pytest.fixture(scope="module")
def triton_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    """A tiny repository shared by one module's Triton tests (one server start per module)."""
    root = tmp_path_factory.mktemp("triton") / "model_repository"
    return root, build_repository(root)


@pytest.fixture(scope="module")
def triton_url(triton_venv: Path, triton_repo: tuple[Path, Manifest]) -> Iterator[str]:
    """A real tritonserver on ``triton_repo``; its log is next to the repository."""
    from tools.standins.tritonserver.launcher import LocalTritonServer

    url = f"127.0.0.1:{free_port_triple()}"
    with (
        open(triton_repo[0].parent / "triton.log", "wb") as log_file,
        LocalTritonServer(triton_repo[0], url, triton_venv, timeout_s=120, log_file=log_file),
    ):
        yield url
