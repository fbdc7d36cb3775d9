"""Encoding and fusion on a tiny real repository with the local ONNX Runtime backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from services.cli.online import OnlineClassifier
from services.fusion.classify import Pair, Unclassified, classify_pairs
from services.image_encoder.encode import encode_images
from services.image_encoder.images import ImageProblem
from services.text_encoder.encode import encode_texts
from shared.config import Settings
from shared.contract import ListingSubmitted
from shared.inference.backend import LocalBackend
from shared.inference.batching import group_by_version
from shared.inference.store import ModelStore
from shared.ml.model_repo import Manifest
from tests.unit.inference.repo_fixture import build_repository


def offers(n: int) -> list[ListingSubmitted]:
    return [ListingSubmitted.new(f"p{i}", title=f"offer {i}") for i in range(n)]


def test_group_by_version_keeps_order() -> None:
    assert group_by_version(["a", "b", "a"]) == {"a": [0, 2], "b": [1]}


async def test_text_encoding_batch_and_missing(model_repo: tuple[Path, Manifest]) -> None:
    root, manifest = model_repo
    backend = LocalBackend(root)
    store = ModelStore(root, backend, ("text",), poll_interval_s=0)
    events = offers(3)
    texts = ["un livre roman", "", "console de jeu"]
    features = await encode_texts(backend, store, events, texts, [manifest.version] * 3)
    assert [f.status for f in features] == ["ok", "missing", "ok"]
    assert features[1].reason == "empty_text" and features[1].outputs == []
    assert [f.submission_id for f in features] == [e.submission_id for e in events]
    # Same logits as running the model alone on one text: batching changes nothing.
    alone = await encode_texts(backend, store, events[2:], texts[2:], [manifest.version])
    np.testing.assert_allclose(features[2].outputs[0].logits, alone[0].outputs[0].logits, rtol=1e-6)
    assert np.argmax(features[0].outputs[0].logits) == 0  # "livre" -> first label
    assert "text_encoded" in features[0].timestamps


async def test_image_encoding_with_problem(model_repo: tuple[Path, Manifest]) -> None:
    root, manifest = model_repo
    backend = LocalBackend(root)
    store = ModelStore(root, backend, ("image",), poll_interval_s=0)
    images: list = [Image.new("RGB", (50, 70), "blue"), ImageProblem("corrupt", "bad bytes")]
    features = await encode_images(backend, store, offers(2), images, [manifest.version] * 2)
    assert features[0].status == "ok" and len(features[0].outputs[0].logits) == 4
    assert (features[1].status, features[1].reason, features[1].detail) == ("missing", "corrupt", "bad bytes")


async def test_versions_in_one_batch_use_their_own_models(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    first = build_repository(root, revision=1, seed=1)
    second = build_repository(root, revision=2, seed=2)
    backend = LocalBackend(root)
    store = ModelStore(root, backend, ("text",), poll_interval_s=0)
    assert (await store.current()).version == second.version
    texts = ["pompe piscine"] * 2
    features = await encode_texts(backend, store, offers(2), texts, [first.version, second.version])
    assert [f.model_version for f in features] == [first.version, second.version]
    assert features[0].outputs[0].logits != features[1].outputs[0].logits


async def test_fusion_paths_and_prior(model_repo: tuple[Path, Manifest]) -> None:
    root, manifest = model_repo
    backend = LocalBackend(root)
    store = ModelStore(root, backend, ("text", "image"), poll_interval_s=0)
    events = offers(3)
    v = [manifest.version] * 3
    text = await encode_texts(backend, store, events, ["lego", "lego", ""], v)
    image = await encode_images(
        backend,
        store,
        events,
        [Image.new("RGB", (8, 8), "green"), ImageProblem("not_found", "gone"), ImageProblem("no_image", "-")],
        v,
    )
    results = await classify_pairs(store, [Pair(t, i) for t, i in zip(text, image, strict=True)], k=3)
    full, text_only, prior = results
    assert not any(isinstance(r, Unclassified) for r in (full, text_only, prior))
    assert full.modalities == ["text", "image"] and text_only.modalities == ["text"]
    assert text_only.image_missing_reason == "not_found"
    assert text_only.prdtypecode == 1280  # "lego"
    assert prior.modalities == [] and prior.prdtypecode == 1280  # most frequent class
    assert len(full.top_k) == 3 and full.top_k[0].prdtypecode == full.prdtypecode
    assert full.model_versions == {"text_tiny": "1", "image_tiny": "1", "fusion": "fusion/1"}
    assert full.confidence == full.top_k[0].probability


async def test_online_classifier_any_subset(model_repo: tuple[Path, Manifest]) -> None:
    import io

    root, _ = model_repo
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), "white").save(buffer, "PNG")
    classifier = OnlineClassifier(Settings(model_repository=root, translator="none", top_k=2))
    try:
        title_only = await classifier.classify("Piscine gonflable avec pompe", None, None)
        photo_only = await classifier.classify(None, None, buffer.getvalue())
        both = await classifier.classify("Roman", "<p>un livre</p>", buffer.getvalue())
        broken = await classifier.classify("Roman", None, b"garbage")
    finally:
        await classifier.close()
    assert title_only.prdtypecode == 2583 and title_only.modalities == ["text"]
    assert photo_only.modalities == ["image"] and len(photo_only.top_k) == 2
    assert both.modalities == ["text", "image"]
    assert broken.modalities == ["text"] and broken.image_missing_reason == "corrupt"


async def test_missing_fusion_path_falls_back_to_prior(model_repo: tuple[Path, Manifest]) -> None:
    from shared.ml.model_repo import publish_manifest

    root, manifest = model_repo
    assert manifest.fusion is not None
    fusion = manifest.fusion.model_copy(
        update={
            "files": {k: v for k, v in manifest.fusion.files.items() if k != "booster_image"},
            "params": {"paths": {k: v for k, v in manifest.fusion.params["paths"].items() if k != "image"}},
        }
    )
    manifest = manifest.model_copy(update={"fusion": fusion, "version": "r1-no-image-path"})
    publish_manifest(root, manifest)
    backend = LocalBackend(root)
    store = ModelStore(root, backend, ("image",), poll_interval_s=0)
    events = offers(1)
    image = await encode_images(backend, store, events, [Image.new("RGB", (8, 8), "red")], [manifest.version])
    (result,) = await classify_pairs(store, [Pair(None, image[0])], k=2)
    assert not isinstance(result, Unclassified)
    assert result.modalities == [] and result.prdtypecode == 1280  # the prior's mode


async def test_a_pair_without_halves_is_a_typed_row_error_in_its_place(
    model_repo: tuple[Path, Manifest],
) -> None:
    """Results keep the pairs' order; the empty pair is an :class:`Unclassified` with its reason."""
    root, manifest = model_repo
    backend = LocalBackend(root)
    store = ModelStore(root, backend, ("image",), poll_interval_s=0)
    image = await encode_images(
        backend, store, offers(1), [Image.new("RGB", (8, 8), "red")], [manifest.version]
    )
    empty, classified = await classify_pairs(store, [Pair(None, None), Pair(None, image[0])], k=2)
    assert empty == Unclassified("neither a text nor an image half")
    assert not isinstance(classified, Unclassified) and classified.modalities == ["image"]
