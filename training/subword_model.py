"""A fastText-style classifier: mean of hashed word / word n-gram / character n-gram embeddings,
then one linear layer (Joulin et al., "Bag of Tricks for Efficient Text Classification").

Why this model: it reads French, German, Spanish... alike (character n-grams of whole words,
no English vocabulary), trains in seconds per fold on 2 cores (sparse embedding gradients,
plain Adagrad), and exports to ONNX as a Gather and a
MatMul, so both backends serve it. Its inputs come from shared.subword (through
shared.preprocess.TextTokenizer): training and serving featurize with the same function.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from shared.model_repo import TextModelSpec
from shared.subword import SubwordSpec
from training import text_model
from training.profiles import Profile

SUBWORD_BASES = {"subword", "fasttext"}


def is_subword(base: str) -> bool:
    return base in SUBWORD_BASES


class SubwordClassifier(nn.Module):
    """(input_ids, attention_mask) -> logits: linear layer over the mean n-gram embedding.

    Trains through ``EmbeddingBag`` (mean over the unmasked ids, sparse gradients: ~10x faster
    on CPU than a padded [batch, length, dim] tensor); :class:`ExportedSubword` computes the same
    function with a Gather for ONNX.
    """

    def __init__(self, buckets: int, dim: int, n_labels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(buckets, dim, mode="mean", sparse=True)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(dim, n_labels)
        nn.init.uniform_(self.embedding.weight, -1.0 / dim, 1.0 / dim)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        keep = attention_mask.bool()
        lengths = keep.sum(1)
        offsets = torch.cumsum(lengths, 0) - lengths
        mean = self.embedding(input_ids[keep], offsets)
        return self.output(self.dropout(mean))  # type: ignore[no-any-return]


class ExportedSubword(nn.Module):
    """The same function as :class:`SubwordClassifier` in ONNX-friendly ops (Gather, ReduceSum)."""

    def __init__(self, model: SubwordClassifier) -> None:
        super().__init__()
        self.weight = model.embedding.weight
        self.output = model.output

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.to(torch.float32).unsqueeze(-1)
        summed = (nn.functional.embedding(input_ids, self.weight) * mask).sum(1)
        return self.output(summed / mask.sum(1).clamp(min=1.0))  # type: ignore[no-any-return]


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
    return SubwordClassifier(profile.subword_buckets, profile.subword_dim, n_labels, profile.subword_dropout)


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
    )


def subword_optimizer(model: SubwordClassifier, profile: Profile) -> torch.optim.Optimizer:
    """Adagrad: it takes the embedding's sparse gradients (dense Adam touches every bucket on
    every step: measured 5x slower and worse), and its per-bucket step sizes make up for the
    1/length scale of a mean's gradient, which left plain SGD stuck at the prior."""
    return torch.optim.Adagrad(model.parameters(), lr=profile.subword_lr)


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
