"""One translation rule: recorded in the manifest at training, checked at load time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.inference.store import ModelStore
from shared.ml.model_repo import LabelSpec, Manifest, TextModelSpec, publish_manifest
from shared.ml.text_preparation import TextPreparationMismatch, Untranslated, check_text_preparation


def manifest(translated: bool | None, revision: int = 1) -> Manifest:
    training = {} if translated is None else {"text_preparation": {"translated": translated}}
    return Manifest(
        version=f"r{revision}",
        revision=revision,
        created_at=datetime.now(UTC),
        labels=[LabelSpec(prdtypecode=10, name="a"), LabelSpec(prdtypecode=40, name="b")],
        text_models=[TextModelSpec(name="t", base="b", triton_version=1, tokenizer_dir="t", max_length=8)],
        training=training,
    )


def test_check_refuses_a_mismatch_and_old_manifests_count_as_untranslated() -> None:
    check_text_preparation(manifest(True), True)
    check_text_preparation(manifest(None), False)
    with pytest.raises(TextPreparationMismatch, match="trained on translated"):
        check_text_preparation(manifest(True), False)
    with pytest.raises(TextPreparationMismatch, match="untranslated"):
        check_text_preparation(manifest(None), True)
    assert Untranslated().prepare(["a", ""]).texts == ["a", ""]


async def test_store_refuses_at_load_and_keeps_the_matching_revision(tmp_path: Path) -> None:
    publish_manifest(tmp_path, manifest(False))
    with pytest.raises(TextPreparationMismatch):
        await ModelStore(tmp_path, poll_interval_s=0, translated=True).current()
    store = ModelStore(tmp_path, poll_interval_s=0, translated=False)
    assert (await store.current()).version == "r1"
    publish_manifest(tmp_path, manifest(True, revision=2))  # a translated revision appears
    assert (await store.current()).version == "r1"  # refused (logged); the matching one stays
