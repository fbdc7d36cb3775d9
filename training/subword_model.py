"""A fastText-style featurizer under a linear TF-IDF classifier: hashed words, word n-grams and
character n-grams of words (Joulin et al., "Bag of Tricks for Efficient Text Classification"),
weighted by their inverse document frequency, L2-normalised, one linear layer, trained with
LinearSVC's loss.

Why this model: it reads French, German, Spanish... alike (character n-grams of whole words, no
English vocabulary), trains in seconds per fold on 2 cores, and exports to ONNX as Gathers and
a sum, so both backends serve it. Its inputs come from shared.ml.subword (through
shared.ml.preprocess.TextTokenizer): training and serving featurize with the same function.

Why TF-IDF weighting and the squared hinge rather than fastText's mean of embeddings under
cross-entropy: measured on the synthetic catalog (4,200 training offers, the same features),
the mean under cross-entropy reached 0.841 weighted F1, the classical TF-IDF + LinearSVC
baseline 0.862, this model 0.859; IDF weights and L2 normalisation are worth ~0.007, the hinge
~0.015 over logistic loss on the same weighted features (docs/benchmarks/training.md). A full
table (bucket -> one score per label) regularised like LinearSVC (L2 weight 1 / (C * training
rows)) finds the baseline's solution while staying a servable ONNX model the fusion stacks.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shared.ml.model_repo import TextModelSpec
from shared.ml.subword import SubwordSpec
from training import text_model
from training.loop import FitResult
from training.profiles import Profile

SUBWORD_BASES = {"subword", "fasttext"}


def is_subword(base: str) -> bool:
    return base in SUBWORD_BASES


class SubwordClassifier(nn.Module):
    """(input_ids, attention_mask) -> scores: ``sum_i idf[id_i] * W[id_i] / ||idf[ids]|| + b``.

    Each position counts (a repeated n-gram weighs its count times its IDF); the norm is that of
    the position weights. Trains through ``EmbeddingBag`` with per-position weights;
    :class:`ExportedSubword` computes the same function with Gathers for ONNX.
    """

    def __init__(self, buckets: int, n_labels: int) -> None:
        super().__init__()
        self.table = nn.EmbeddingBag(buckets, n_labels, mode="sum")
        self.bias = nn.Parameter(torch.zeros(n_labels))
        self.idf: torch.Tensor
        self.register_buffer("idf", torch.ones(buckets))
        nn.init.zeros_(self.table.weight)

    def fit_idf(self, documents: Iterable[np.ndarray]) -> None:
        """Smoothed IDF of each bucket over ``documents`` (the training rows' ids), as
        scikit-learn's TfidfTransformer: ``ln((1 + n) / (1 + df)) + 1``."""
        buckets = self.idf.shape[0]
        frequency = np.zeros(buckets, dtype=np.float64)
        n = 0
        for ids in documents:
            frequency[np.unique(ids)] += 1.0
            n += 1
        idf = np.log((1.0 + n) / (1.0 + frequency)) + 1.0
        self.idf.copy_(torch.from_numpy(idf.astype(np.float32)))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        keep = attention_mask.bool()
        lengths = keep.sum(1)
        offsets = torch.cumsum(lengths, 0) - lengths
        flat = input_ids[keep]
        weights = self.idf[flat]
        rows = torch.repeat_interleave(torch.arange(len(lengths), device=flat.device), lengths)
        squared = torch.zeros(len(lengths), device=flat.device).index_add_(0, rows, weights * weights)
        summed = self.table(flat, offsets, per_sample_weights=weights)
        return summed / squared.sqrt().clamp(min=1e-12).unsqueeze(1) + self.bias  # type: ignore[no-any-return]


class ExportedSubword(nn.Module):
    """The same function as :class:`SubwordClassifier` in ONNX-friendly ops (Gather, ReduceSum)."""

    def __init__(self, model: SubwordClassifier) -> None:
        super().__init__()
        self.weight = model.table.weight
        self.idf: torch.Tensor = model.idf
        self.bias = model.bias

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        weights = self.idf[input_ids] * attention_mask.to(torch.float32)
        summed = (nn.functional.embedding(input_ids, self.weight) * weights.unsqueeze(-1)).sum(1)
        norm = (weights * weights).sum(1).sqrt().clamp(min=1e-12)
        return summed / norm.unsqueeze(1) + self.bias  # type: ignore[no-any-return]


def subword_spec(profile: Profile) -> SubwordSpec:
    return SubwordSpec(
        buckets=profile.subword_buckets,
        min_n=profile.subword_min_n,
        max_n=profile.subword_max_n,
        word_ngrams=profile.subword_word_ngrams,
        max_features=profile.subword_max_features,
    )


def build_subword_model(profile: Profile, n_labels: int) -> SubwordClassifier:
    torch.manual_seed(profile.seed)
    return SubwordClassifier(profile.subword_buckets, n_labels)


def subword_training(profile: Profile) -> text_model.TextTraining:
    return text_model.TextTraining(
        profile.subword_epochs,
        profile.subword_batch_size,
        profile.subword_lr,
        0.0,
        0.0,
        None,
        profile.seed,
        profile.patience,
        mixed_precision=False,  # a linear model over sums: nothing to gain, precision to lose
        loss="squared_hinge",
    )


def prepare_fit(
    model: SubwordClassifier, profile: Profile, documents: list[np.ndarray]
) -> torch.optim.Optimizer:
    """Fit the IDF on the training rows' ids (``documents``), then the optimizer: Adam, the
    table L2-regularised as LinearSVC(C) would be on these rows (its objective
    ``||w||^2 / 2 + C * sum(loss)`` is, per row, ``mean(loss) + ||w||^2 / (2 C n)``, whose
    gradient adds ``w / (C n)``). The bias is not decayed."""
    model.fit_idf(documents)
    decay = 1.0 / (profile.subword_c * max(1, len(documents)))
    return torch.optim.Adam(
        [
            {"params": [model.table.weight], "weight_decay": decay},
            {"params": [model.bias], "weight_decay": 0.0},
        ],
        lr=profile.subword_lr,
    )


@torch.no_grad()
def calibrate(model: SubwordClassifier, logits: np.ndarray, labels: np.ndarray) -> float:
    """Scale the model's scores by the temperature that minimises the cross-entropy of
    ``logits`` (the model's scores of held-out rows, e.g. its validation slice) and return it.

    Why: hinge scores sit near -1..1, so their softmax (what a path serves when it falls back
    to this model, and what explanations show) would put ~0.2 on a sure class. Scaling the
    table and bias leaves the ranking, the argmax and the stacking features' information alone.
    """
    if len(labels) == 0:
        return 1.0
    scores = torch.from_numpy(np.asarray(logits, dtype=np.float64))
    target = torch.from_numpy(np.asarray(labels)).long()
    grid = torch.logspace(-1.0, 2.5, 141, dtype=torch.float64)
    losses = torch.stack([nn.functional.cross_entropy(scores * t, target) for t in grid])
    temperature = float(grid[int(torch.argmin(losses))])
    model.table.weight.mul_(temperature)
    model.bias.mul_(temperature)
    return temperature


def fit_subword(
    model: SubwordClassifier,
    encoded: text_model.EncodedTexts,
    rows: np.ndarray,
    labels: np.ndarray,
    val_rows: np.ndarray,
    val_labels: np.ndarray,
    profile: Profile,
    checkpoint: Path,
    description: str,
    device: torch.device | None = None,
) -> FitResult:
    """The whole fit of one subword model: IDF and optimizer from ``rows`` (:func:`prepare_fit`),
    training early-stopped on ``val_rows``, then scores calibrated on ``val_rows``
    (:func:`calibrate`). ``model`` must already be on ``device``."""
    optimizer = prepare_fit(model, profile, [encoded.ids[i] for i in rows])
    result = text_model.train_text_model(
        model, encoded, rows, labels, val_rows, val_labels, subword_training(profile),
        checkpoint, description, optimizer, device,
    )  # fmt: skip
    calibrate(model, text_model.logits_of(model, encoded, val_rows), val_labels)
    return result


def export_subword_model(model: SubwordClassifier, model_dir: Path, spec: TextModelSpec) -> Path:
    """ONNX like the other text models; no tokenizer files (the spec carries the featurizer)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    model.cpu().eval()
    path = model_dir / "model.onnx"
    ids = torch.ones((2, 8), dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            ExportedSubword(model),
            (ids, ids.clone()),
            str(path),
            input_names=list(spec.input_names),
            output_names=[spec.output_name],
            dynamic_axes={
                **{name: {0: "batch", 1: "sequence"} for name in spec.input_names},
                spec.output_name: {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    return path
