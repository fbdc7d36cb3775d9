"""Fusion refuses, at the first delivery, a half it could never classify (issue 24 H)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from services.fusion import worker as fusion
from shared.broker import Reject
from shared.config import Settings
from shared.contract import ImageFeatures, ListingSubmitted, ModelOutput, TextFeatures
from shared.inference.store import ModelStore
from shared.ml.model_repo import Manifest
from tests.unit.workers.fakes import MemoryJoiner


def _text(version: str, offer: ListingSubmitted, n_labels: int) -> TextFeatures:
    return TextFeatures(
        **offer.envelope(),
        model_version=version,
        outputs=[ModelOutput(model="text_x", logits=[0.0] * n_labels)],
    )


async def test_a_lone_half_of_an_unknown_version_is_dead_lettered_with_the_reason(
    model_repo: tuple[Path, Manifest], caplog: pytest.LogCaptureFixture
) -> None:
    root, manifest = model_repo
    store = ModelStore(root, poll_interval_s=0)
    joiner = MemoryJoiner()
    deps = fusion.Deps(joiner, store, Settings(model_repository=root, translator="none").top_k)
    forged, genuine = ListingSubmitted.new("a", title="x"), ListingSubmitted.new("b", title="y")
    halves = [
        _text("r999-forged", forged, len(manifest.labels)),
        _text(manifest.version, genuine, len(manifest.labels)),
    ]
    with caplog.at_level(logging.WARNING):
        outcomes = await fusion.on_text(halves, deps)
    assert len(outcomes) == 1 and isinstance(outcomes[0], Reject)
    assert outcomes[0].event is halves[0] and "unknown_model_version" in outcomes[0].error
    assert "half refused" in caplog.text
    image = ImageFeatures(
        **forged.envelope(), model_version="r999-forged", status="missing", reason="no_image"
    )
    (rejected,) = await fusion.on_image([image], deps)
    assert isinstance(rejected, Reject)
    assert forged.submission_id not in joiner.halves and genuine.submission_id in joiner.halves
