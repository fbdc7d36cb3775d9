"""The subword text model as training exports it - LinearSVC's weights in the ONNX graph, word
and character blocks, distinct ids with their counts in ``attention_mask`` - gives the same
scores through a real local tritonserver as through local ONNX Runtime, and as in PyTorch.

Why: serving now feeds counts (not 0/1) through ``attention_mask``; a backend that read the mask
as a 0/1 flag, or a graph that ignored it, would serve other scores than the ones trained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from services.bench.text_ceiling import text_offers
from shared.inference.backend import LocalBackend
from shared.inference.triton import TritonBackend
from shared.ml.model_repo import Manifest, TextModelSpec
from shared.ml.preprocess import TextTokenizer
from tests.integration.inference.test_triton import TEXTS, features
from tests.unit.inference.repo_fixture import build_repository, write_fusion
from training import subword_model, text_model
from training.export import write_config
from training.profiles import PROFILES

pytestmark = pytest.mark.triton

Repo = tuple[Path, Manifest]


@pytest.fixture(scope="module")
def triton_repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """The tiny repository plus two subword models fitted by training's exact fit (default
    profile's featurization, fewer buckets): the whole offer (``subword``) and the title view
    (``subword_title``, another served text base of the text stack)."""
    root = tmp_path_factory.mktemp("triton-subword") / "model_repository"
    manifest = build_repository(root)
    profile = PROFILES["default"]
    offers = text_offers(200, 5)
    texts = [*offers.texts, *TEXTS]
    labels = np.unique(offers.labels, return_inverse=True)[1] % len(manifest.labels)
    rows = np.arange(len(offers.texts))
    specs, expected = [], []
    for base in ("subword", "subword_title"):
        small = {"buckets": 2**14, "word_buckets": 2**12}
        subword = subword_model.subword_spec(profile, base).model_copy(update=small)
        name = subword_model.model_name(base)
        spec = TextModelSpec(
            name=name, base=base, triton_version=manifest.revision, tokenizer_dir=f"{name}/1",
            max_length=profile.subword_max_features, subword=subword,
        )  # fmt: skip
        encoded = text_model.EncodedTexts(TextTokenizer(root, spec), texts)
        model = subword_model.build_subword_model(profile, len(manifest.labels), subword)
        subword_model.fit_exact(model, encoded, rows, labels, profile.subword_c, profile.subword_min_df)
        subword_model.export_subword_model(model, root / spec.name / str(spec.triton_version), spec)
        write_config(root, spec, 64, "KIND_CPU")
        expected.append(text_model.logits_of(model, encoded, np.arange(len(offers.texts), len(texts))))
        specs.append(spec)
    np.save(root.parent / "expected.npy", np.stack(expected))
    manifest = manifest.model_copy(update={"text_models": [*manifest.text_models, *specs]})
    return root, write_fusion(root, manifest)


async def test_local_triton_and_pytorch_serve_the_subword_model_alike(
    triton_url: str, triton_repo: Repo
) -> None:
    root, manifest = triton_repo
    assert TextTokenizer(root, manifest.text_models[-1]).encode(TEXTS)["attention_mask"].max() > 1  # counts
    triton = TritonBackend(triton_url, "grpc")
    try:
        remote = await features(triton, root, manifest)
    finally:
        await triton.close()
    local = await features(LocalBackend(root), root, manifest)
    for a, b in zip(remote, local, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
    with_text = [i for i, text in enumerate(TEXTS) if text]  # an empty text has no text outputs
    assert all(len(local[i]) == len(manifest.text_models) for i in with_text)
    expected = np.load(root.parent / "expected.npy")[:, with_text]
    for k, position in enumerate((-2, -1)):  # the subword models are the last two text models
        served = np.asarray([local[i][position] for i in with_text])
        np.testing.assert_allclose(served, expected[k], atol=1e-4)
        assert torch.from_numpy(expected[k]).abs().max() > 0.1  # a fitted model, not zeros
    assert np.abs(expected[0] - expected[1]).max() > 0.1  # the title view is another model
