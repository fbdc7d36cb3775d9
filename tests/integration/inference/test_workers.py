"""Language, text-encoder, image-encoder and fusion workers on real Redis (tiny repository)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from PIL import Image
from redis.asyncio import Redis

from services.cli.online import OnlineClassifier
from services.fusion.worker import create_worker as fusion_worker
from services.image_encoder.worker import create_worker as image_worker
from services.language.worker import create_worker as language_worker
from services.rollout.controller import TritonControl, reconcile
from services.text_encoder.worker import create_worker as text_worker
from shared.broker import EventPublisher, read_events
from shared.config import Settings
from shared.contract import ImageFeatures, ListingClassified, ListingSubmitted, Stream, TextFeatures
from shared.inference.pinning import pin_key
from shared.ml.model_repo import Manifest
from tests.integration.inference.helpers import ensure_triton_venv, free_port_triple
from tests.unit.inference.repo_fixture import build_repository
from tools.standins.tritonserver.launcher import LocalTritonServer

TITLES = ["Roman policier livre", "Console de jeu", "Lego technic", "Pompe pour piscine", "", "Poupée"]


def write_images(folder: Path) -> None:
    for i, color in enumerate(["red", "green", "blue", "yellow", "white", "black"]):
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), color).save(buffer, "JPEG")
        (folder / f"img{i}.jpg").write_bytes(buffer.getvalue())
    (folder / "broken.jpg").write_bytes(b"nope")


def offers(folder: Path, n: int, tag: str) -> list[ListingSubmitted]:
    uris = [f"file://{folder}/img{i % 6}.jpg" for i in range(n)]
    uris[1 % n] = f"file://{folder}/broken.jpg"
    if n > 2:
        uris[2] = None  # type: ignore[call-overload]
    return [
        ListingSubmitted.new(f"{tag}{i}", title=TITLES[i % len(TITLES)], image_uri=uris[i]) for i in range(n)
    ]


async def run_pipeline(settings: Settings, batches: list[list[ListingSubmitted]], between=None) -> list:  # type: ignore[no-untyped-def]
    total = 0
    classified: list[ListingClassified] = []
    async with AsyncExitStack() as stack:
        for factory in (language_worker, text_worker, image_worker, fusion_worker):
            await stack.enter_async_context(factory(settings).running())
        async with EventPublisher(settings) as pub:
            for k, batch in enumerate(batches):
                if k and between is not None:
                    await between(pub.redis)
                await pub.publish(Stream.SUBMITTED, batch)
                total += len(batch)
                classified = await read_events(settings, Stream.CLASSIFIED, ListingClassified, total, 60)
                assert len(classified) == total
    return classified


async def test_pipeline_equals_online_path(settings: Settings, tmp_path: Path) -> None:
    write_images(tmp_path)
    submitted = offers(tmp_path, 12, "p")
    classified = await run_pipeline(settings, [submitted])
    by_id = {c.submission_id: c for c in classified}
    assert set(by_id) == {s.submission_id for s in submitted}
    online = OnlineClassifier(settings)
    try:
        for offer in submitted:
            got = by_id[offer.submission_id]
            photo = Path(offer.image_uri[len("file://") :]).read_bytes() if offer.image_uri else None
            expected = await online.classify(offer.title, offer.description, photo)
            assert (got.prdtypecode, got.modalities) == (expected.prdtypecode, expected.modalities)
            assert abs(got.confidence - expected.confidence) < 1e-6
            stages = {"submitted", "prepared", "text_encoded", "image_encoded", "classified"}
            assert set(got.timestamps) >= stages
    finally:
        await online.close()
    reasons = {c.listing_id: c.image_missing_reason for c in classified}
    assert reasons["p1"] == "corrupt" and reasons["p2"] == "no_image" and reasons["p0"] is None
    assert by_id[submitted[4].submission_id].modalities == ["image"]  # empty title


@pytest.fixture(params=["local", pytest.param("triton", marks=pytest.mark.triton)])
def backend_settings(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> Iterator[Settings]:
    """``settings`` on the local backend, or on a real tritonserver serving the same repository."""
    if request.param == "local":
        yield settings
        return
    url = f"127.0.0.1:{free_port_triple()}"
    with (
        open(tmp_path / "triton.log", "wb") as log_file,
        LocalTritonServer(settings.model_repository, url, ensure_triton_venv(), log_file=log_file),
    ):
        yield settings.model_copy(update={"inference_backend": "triton", "triton_url": url})


async def test_version_switch_mid_stream_never_mixes(backend_settings: Settings, tmp_path: Path) -> None:
    settings = backend_settings
    root = settings.model_repository
    write_images(tmp_path)
    first, second = offers(tmp_path, 6, "a"), offers(tmp_path, 6, "b")
    r1 = Manifest.model_validate_json((root / "manifest.json").read_text())
    state: dict[str, Manifest] = {}

    async def publish_revision_two(redis: Redis) -> None:
        # One submission of the second batch was already pinned to r1 by an encoder that
        # handled it before the switch: both encoders and fusion must still use r1 for it.
        await redis.set(pin_key(settings, second[0].submission_id), r1.version)
        state["r2"] = build_repository(root, revision=2, seed=7)
        if settings.inference_backend == "triton":  # the rollout controller loads it; workers only read
            control = TritonControl(settings.triton_url)
            try:
                await reconcile(control, root, keep=2)
            finally:
                await control.close()

    classified = await run_pipeline(settings, [first, second], between=publish_revision_two)
    version = {c.submission_id: c.model_version for c in classified}
    assert {version[s.submission_id] for s in first} == {r1.version}
    assert version[second[0].submission_id] == r1.version
    assert {version[s.submission_id] for s in second[1:]} == {state["r2"].version}
    for c in classified:
        expected = "fusion/1" if c.model_version == r1.version else "fusion/2"
        assert c.model_versions["fusion"] == expected
    text = await read_events(settings, Stream.TEXT_FEATURES, TextFeatures, 12, 5)
    image = await read_events(settings, Stream.IMAGE_FEATURES, ImageFeatures, 12, 5)
    pairs = {t.submission_id: t.model_version for t in text}
    assert all(pairs[i.submission_id] == i.model_version for i in image)
