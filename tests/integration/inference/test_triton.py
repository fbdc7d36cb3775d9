"""A real local tritonserver (deploy/triton) gives the same outputs as local ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.image_encoder.encode import encode_images
from services.rollout.controller import TritonControl, reconcile
from services.text_encoder.encode import encode_texts
from shared.contract import ListingSubmitted
from shared.inference.backend import InferenceBackend, LocalBackend
from shared.inference.store import ModelStore
from shared.inference.triton import TritonBackend
from shared.ml.model_repo import Manifest
from tests.unit.inference.repo_fixture import build_repository

pytestmark = pytest.mark.triton

Repo = tuple[Path, Manifest]
TEXTS = ["un livre roman", "console jeu lego", "", "piscine pompe piscine pompe jeu"]


async def features(backend: InferenceBackend, root: Path, manifest: Manifest) -> list[list[list[float]]]:
    store = ModelStore(root, backend, ("text", "image"), poll_interval_s=0)
    await store.current()
    events = [ListingSubmitted.new(f"p{i}", title=t) for i, t in enumerate(TEXTS)]
    versions = [manifest.version] * len(events)
    images = [Image.new("RGB", (40 + i, 30), c) for i, c in enumerate(["red", "green", "blue", "white"])]
    text = await encode_texts(backend, store, events, TEXTS, versions)
    image = await encode_images(backend, store, events, images, versions)
    return [[o.logits for o in f.outputs] for f in text] + [[o.logits for o in f.outputs] for f in image]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
async def test_local_equals_triton(triton_url: str, triton_repo: Repo, protocol: str) -> None:
    root, manifest = triton_repo
    host, port = triton_url.rsplit(":", 1)
    url = triton_url if protocol == "grpc" else f"{host}:{int(port) + 1}"
    triton = TritonBackend(url, protocol)
    try:
        remote = await features(triton, root, manifest)
    finally:
        await triton.close()
    local = await features(LocalBackend(root), root, manifest)
    assert len(remote) == len(local) == 8
    for a, b in zip(remote, local, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)


# Runs last in this module: it adds revisions 2 and 3 to the shared repository.
async def test_rollout_loads_new_revisions_prunes_old_ones_and_workers_follow(
    triton_url: str, triton_repo: Repo
) -> None:
    root, first = triton_repo
    triton = TritonBackend(triton_url)
    control = TritonControl(triton_url)
    try:
        await reconcile(control, root, keep=2)  # the server started with the current revision
        store = ModelStore(root, triton, ("text", "image"), poll_interval_s=0)
        assert (await store.current()).version == first.version
        second = build_repository(root, revision=2, seed=5)
        # Workers never load: revision 2 is not served yet, so the store stays on revision 1.
        assert (await store.current()).version == first.version
        report = await reconcile(control, root, keep=2)
        assert report.loaded == {"image_tiny": [1, 2], "text_tiny": [1, 2]}
        assert (await store.current()).version == second.version
        inputs = {"input_ids": np.array([[2, 3]]), "attention_mask": np.array([[1, 1]])}
        old = await triton.infer("text_tiny", 1, inputs, "logits")  # previous revision still served
        new = await triton.infer("text_tiny", 2, inputs, "logits")
        local = LocalBackend(root)
        np.testing.assert_allclose(old, local.run("text_tiny", 1, inputs, "logits"), rtol=1e-6)
        np.testing.assert_allclose(new, local.run("text_tiny", 2, inputs, "logits"), rtol=1e-6)
        assert not np.allclose(old, new)
        build_repository(root, revision=3, seed=6)
        report = await reconcile(control, root, keep=2)
        assert report.served == {"image_tiny": [2, 3], "text_tiny": [2, 3]}  # version 1 unloaded
        assert not await triton.is_ready("text_tiny", 1)
        assert (await reconcile(control, root, keep=2)).loaded == {}  # nothing left to do
    finally:
        await control.close()
        await triton.close()
