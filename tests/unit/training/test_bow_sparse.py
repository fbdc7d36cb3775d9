"""The bow model's sparse training (SparseAdam over the rows a batch touches) computes the
dense model's function, moves only the touched rows, trains and resumes through the text loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from shared.ml.model_repo import TextModelSpec
from shared.ml.preprocess import TextTokenizer
from training import bow_model, text_model
from training.profiles import PROFILES
from training.scoring import onnx_session

VOCAB, LABELS, BUCKETS = 50, 4, 64


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([[3, 7, 7, 9, 0, 0], [11, 3, 12, 13, 14, 2]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    return ids, mask


def test_sparse_and_dense_models_compute_the_same_logits() -> None:
    sparse = bow_model.BowClassifier(VOCAB, LABELS, BUCKETS, sparse=True)
    for parameter in sparse.parameters():
        torch.nn.init.normal_(parameter)
    dense = bow_model.BowClassifier(VOCAB, LABELS, BUCKETS, sparse=False)
    dense.load_state_dict(sparse.state_dict())
    ids, mask = _batch()
    got, expected = sparse(ids, mask), dense(ids, mask)
    assert got.shape == (2, LABELS)
    torch.testing.assert_close(got, expected)
    got.sum().backward()
    assert all(p.grad is not None and p.grad.is_sparse for p in sparse.parameters())


def test_a_sparse_step_changes_only_the_rows_the_batch_touches() -> None:
    model = bow_model.BowClassifier(VOCAB, LABELS, BUCKETS, sparse=True)
    settings = bow_model.bow_training(PROFILES["default"])
    optimizer = text_model.text_optimizer(model, settings)
    assert isinstance(optimizer, torch.optim.SparseAdam)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    ids, mask = _batch()
    loss = torch.nn.functional.cross_entropy(model(ids, mask), torch.tensor([1, 2]))
    loss.backward()
    optimizer.step()
    pairs = torch.remainder(ids[:, :-1] * bow_model.HASH_MULTIPLIER + ids[:, 1:], BUCKETS)
    live_pairs = pairs[(mask[:, :-1] * mask[:, 1:]).bool()]
    touched = {"unigram.weight": set(ids[mask.bool()].tolist()), "bigram.weight": set(live_pairs.tolist())}
    for name, parameter in model.named_parameters():
        moved = {int(r) for r in torch.nonzero((parameter.detach() != before[name]).any(1)).flatten()}
        if name == "bias.weight":
            assert moved == {0}
        else:  # every real token's row moved, no other (pad rows get a zero gradient: no move)
            assert moved == touched[name], name


def test_dense_model_keeps_adamw_and_sparse_refuses_weight_decay() -> None:
    dense = bow_model.BowClassifier(VOCAB, LABELS, BUCKETS, sparse=False)
    settings = bow_model.bow_training(PROFILES["default"])
    assert isinstance(text_model.text_optimizer(dense, settings), torch.optim.AdamW)
    sparse = bow_model.BowClassifier(VOCAB, LABELS, BUCKETS, sparse=True)
    with pytest.raises(ValueError, match="weight decay"):
        text_model.text_optimizer(sparse, text_model.TextTraining(1, 8, 0.1, 0.01, 0.0, None, 0))


def test_only_many_classes_train_sparse() -> None:
    default = PROFILES["default"]
    assert not bow_model.trains_sparse(default, 27)  # the reference keeps its dense model
    assert bow_model.trains_sparse(default, 1000)


@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "dense"])
def test_trained_bow_exports_to_onnx_and_resumes(tmp_path: Path, sparse: bool) -> None:
    """Trained through the text loop (clipping, schedule, checkpoints), resumed with nothing
    left to train it scores the same, and its ONNX export gives its logits."""
    texts = ["piscine hors-sol pompe", "roman de poche", "piscine gonflable", "roman policier poche"] * 8
    labels = np.array([0, 1, 0, 1] * 8)
    spec = TextModelSpec(name="text_bow", base="bow", triton_version=1, tokenizer_dir="tok", max_length=32)
    settings = text_model.TextTraining(3, 8, 0.05, 0.0, 0.0, None, 0, mixed_precision=False)

    def run() -> bow_model.BowClassifier:
        torch.manual_seed(0)
        model = bow_model.build_bow_model(2, tmp_path / "tok", buckets=256, sparse=sparse)
        encoded = text_model.EncodedTexts(TextTokenizer(tmp_path, spec), texts)
        rows, val = np.arange(24), np.arange(24, 32)
        text_model.train_text_model(
            model, encoded, rows, labels[rows], val, labels[val], settings,
            tmp_path / "run" / "checkpoint.pt", "bow", None, torch.device("cpu"),
        )  # fmt: skip
        return model

    model = run()
    tokenizer = TextTokenizer(tmp_path, spec)
    expected = text_model.torch_text_logits(model, tokenizer, texts[:4])
    assert expected.shape == (4, 2) and (expected.argmax(1) == labels[:4]).all()
    np.testing.assert_allclose(text_model.torch_text_logits(run(), tokenizer, texts[:4]), expected)
    path = bow_model.export_bow_model(model, tmp_path / "tok", tmp_path / "text_bow" / "1", spec)
    got = onnx_session(path).run(["logits"], tokenizer.encode(texts[:4]))[0]  # type: ignore[attr-defined]
    np.testing.assert_allclose(got, expected, atol=1e-4)
