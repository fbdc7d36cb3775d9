"""`auto`/`review` decisions through both backends (local ONNX Runtime and a real tritonserver):
the same calibrated confidences and the same decisions, stored by the writer and read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from services.fusion.classify import Pair, classify_pairs
from services.image_encoder.encode import encode_images
from services.text_encoder.encode import encode_texts
from services.writer.store import write_predictions
from shared.contract import ListingClassified, ListingSubmitted
from shared.db.models import Prediction
from shared.db.session import session_scope, upgrade
from shared.inference.backend import InferenceBackend, LocalBackend
from shared.inference.store import ModelStore
from shared.inference.triton import TritonBackend
from shared.ml.model_repo import Manifest, publish_manifest, read_manifest
from shared.ml.selective import SelectivePolicy

pytestmark = pytest.mark.triton

TEXTS = ["un livre roman", "console jeu lego", "", "piscine pompe piscine pompe jeu", "poupée lego", "roman"]
TEMPERATURE = 1.7


async def classify(backend: InferenceBackend, root: Path) -> list[ListingClassified]:
    store = ModelStore(root, backend, ("text", "image"), poll_interval_s=0)
    manifest = await store.current()
    events = [ListingSubmitted.new(f"d{i}", title=t) for i, t in enumerate(TEXTS)]
    versions = [manifest.version] * len(events)
    colours = ["red", "green", "blue", "white", "yellow", "black"]
    images = [Image.new("RGB", (40 + i, 30), c) for i, c in enumerate(colours)]
    text = await encode_texts(backend, store, events, TEXTS, versions)
    image = await encode_images(backend, store, events, images, versions)
    results = await classify_pairs(store, [Pair(t, i) for t, i in zip(text, image, strict=True)], 3)
    assert all(isinstance(r, ListingClassified) for r in results)
    return results  # type: ignore[return-value]


def republish(root: Path, manifest: Manifest) -> None:
    publish_manifest(root, manifest, make_current=True)


async def test_decisions_are_the_same_on_both_backends_and_stored(
    triton_url: str, triton_repo: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, _ = triton_repo
    manifest = read_manifest(root)
    assert manifest.fusion is not None
    uncalibrated = await classify(LocalBackend(root), root)
    paths = ("full", "text", "image")
    manifest.fusion.params["calibration"] = {p: {"temperature": TEMPERATURE} for p in paths}
    republish(root, manifest)
    calibrated = await classify(LocalBackend(root), root)
    assert all(r.decision is None for r in calibrated)  # no thresholds yet: no decision
    # the served confidence is the temperature-scaled fusion output (same top-1 class)
    for before, after in zip(uncalibrated, calibrated, strict=True):
        assert before.prdtypecode == after.prdtypecode
        if before.modalities:
            assert after.confidence < before.confidence
    confidences = sorted(r.confidence for r in calibrated)
    cut = (confidences[2] + confidences[3]) / 2
    manifest.selective = SelectivePolicy(
        target_precision=0.98, threshold=cut, held_out_rows=10, coverage=0.5, precision=1.0
    )
    republish(root, manifest)

    local = await classify(LocalBackend(root), root)
    triton = TritonBackend(triton_url)
    try:
        remote = await classify(triton, root)
    finally:
        await triton.close()
    for a, b in zip(local, remote, strict=True):
        assert (a.prdtypecode, a.decision) == (b.prdtypecode, b.decision)
        np.testing.assert_allclose(a.confidence, b.confidence, rtol=1e-6, atol=1e-6)
        expected = "auto" if a.modalities and a.confidence >= cut else "review"
        assert a.decision == expected
    assert {r.decision for r in local} == {"auto", "review"}

    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    upgrade(url)
    with session_scope(url) as session:
        write_predictions(session, local)
    with session_scope(url) as session:
        stored = {sid: d for sid, d in session.execute(select(Prediction.submission_id, Prediction.decision))}
    assert stored == {r.submission_id: r.decision for r in local}
    # an event without the field (an older fusion worker's) still reads, with no decision
    older = ListingClassified.model_validate_json(local[0].model_dump_json(exclude={"decision"}))
    assert older.decision is None and "decision" not in older.model_dump_json()
