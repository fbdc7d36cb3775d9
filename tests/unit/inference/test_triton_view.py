"""The CPU view the local tritonserver serves: symlinked versions, KIND_GPU rewritten."""

from __future__ import annotations

from pathlib import Path

from shared.ml.model_repo import Manifest
from tests.unit.inference.repo_fixture import build_repository
from tools.standins.tritonserver.launcher import ports_of, sync_cpu_view


def test_view_follows_new_and_pruned_revisions(model_repo: tuple[Path, Manifest], tmp_path: Path) -> None:
    root, _ = model_repo
    view = tmp_path / "view"
    assert sync_cpu_view(root, view)
    config = (view / "text_tiny" / "config.pbtxt").read_text()
    assert "KIND_CPU" in config and "KIND_GPU" not in config
    assert (view / "text_tiny" / "1").resolve() == (root / "text_tiny" / "1").resolve()
    assert not sync_cpu_view(root, view)  # nothing new
    build_repository(root, revision=2)
    assert sync_cpu_view(root, view)
    assert (view / "image_tiny" / "2" / "model.onnx").is_file()
    import shutil

    shutil.rmtree(root / "image_tiny" / "1")
    assert sync_cpu_view(root, view)
    assert not (view / "image_tiny" / "1").exists()
    assert not (view / "fusion").exists()  # fusion runs in the fusion worker, not Triton


def test_ports_follow_grpc_port() -> None:
    ports = ports_of("127.0.0.1:9001")
    assert (ports.grpc, ports.http, ports.metrics) == (9001, 9002, 9003)


async def test_unreachable_triton_is_an_inference_error(model_repo: tuple[Path, Manifest]) -> None:
    import pytest

    from shared.inference.backend import InferenceError
    from shared.inference.store import ModelStore, warm_up
    from shared.inference.triton import TritonBackend
    from tests.integration.inference.helpers import free_port_triple

    root, _ = model_repo
    backend = TritonBackend(f"127.0.0.1:{free_port_triple()}", timeout_s=1)
    store = ModelStore(root, backend, ("text",), poll_interval_s=0)
    await warm_up(store)  # logs, does not raise: the worker starts and retries per batch
    with pytest.raises(InferenceError):
        await store.current()
    await backend.close()
