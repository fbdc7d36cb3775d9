"""A fastText-like text model over word pieces: unigram + hashed bigram weights, summed / sqrt(length).

Why: the offline pretrained base (an English MiniLM) reads French offers poorly, while word
identity carries most of a product type. This linear model learns that in seconds on CPU, is
served exactly like the transformer (same TextTokenizer inputs, same ONNX contract), and gives
fusion a second, differently-biased text model (the seed study fused two text models too).

Why sparse gradients (SparseAdam): a batch touches a few thousand of the (30,522 word pieces +
buckets) rows, but a dense gradient and a dense Adam step rewrite the whole table every step:
at 1,000 labels that is 96M floats per step, what made bow the costliest stage of a 1,000-leaf
run (docs/benchmarks/taxonomy.md). With ``sparse`` (above ``Profile.text_many_labels`` classes:
:func:`trains_sparse`) the embeddings (and the bias, a one-row embedding) get sparse gradients
and training.text_model.text_optimizer's SparseAdam updates only the rows a batch touches.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from shared.ml.model_repo import TextModelSpec
from training import text_model
from training.profiles import Profile

BOW_BASES = {"bow", "bow:minilm"}
HASH_MULTIPLIER = 1_000_003


def is_bow(base: str) -> bool:
    return base in BOW_BASES


class BowClassifier(nn.Module):
    """(input_ids, attention_mask) -> logits: mean of unigram and hashed-bigram class weights.

    ``sparse``: every parameter's gradient is sparse (the bias is a one-row embedding read
    through a lookup), the same function and ONNX graph outputs either way."""

    def __init__(self, vocab_size: int, n_labels: int, buckets: int, sparse: bool = False) -> None:
        super().__init__()
        self.buckets = buckets
        self.sparse_gradients = sparse  # training.text_model.text_optimizer reads it
        self.unigram = nn.Embedding(vocab_size, n_labels, sparse=sparse)
        self.bigram = nn.Embedding(buckets, n_labels, sparse=sparse)
        self.bias = nn.Embedding(1, n_labels, sparse=sparse)
        for table in (self.unigram, self.bigram, self.bias):
            nn.init.zeros_(table.weight)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.to(torch.float32)
        uni = (self.unigram(input_ids) * mask.unsqueeze(-1)).sum(1)
        pair_ids = torch.remainder(input_ids[:, :-1] * HASH_MULTIPLIER + input_ids[:, 1:], self.buckets)
        pair_mask = mask[:, :-1] * mask[:, 1:]
        bi = (self.bigram(pair_ids) * pair_mask.unsqueeze(-1)).sum(1)
        count = mask.sum(1, keepdim=True).clamp(min=1.0)
        bias = self.bias(torch.zeros(1, dtype=torch.long, device=input_ids.device))
        return (uni + bi) / torch.sqrt(count) + bias


def build_bow_model(n_labels: int, tokenizer_dir: Path, buckets: int, sparse: bool = False) -> BowClassifier:
    """A zero-initialised model; the MiniLM word-piece tokenizer saved to ``tokenizer_dir``."""
    from transformers import AutoTokenizer

    source, _ = text_model.resolve_text_base("minilm")
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(tokenizer_dir))
    return BowClassifier(len(tokenizer), n_labels, buckets, sparse)


def trains_sparse(profile: Profile, n_labels: int) -> bool:
    """Sparse above ``profile.text_many_labels`` classes. At 27 the dense model stays: sparse
    (lazy) Adam moves a row only when a batch touches it, a different model that scored 0.007
    below the dense one on the reference catalog's held-out rows (docs/benchmarks/taxonomy.md),
    and the dense step costs little there."""
    return n_labels > profile.text_many_labels


def bow_training(profile: Profile) -> text_model.TextTraining:
    return text_model.TextTraining(
        profile.bow_epochs,
        profile.bow_batch_size,
        profile.bow_lr,
        0.0,
        0.02,
        profile.text_max_steps_per_epoch,
        profile.seed,
        mixed_precision=False,  # a linear model: nothing to gain from bf16
    )


def export_bow_model(model: BowClassifier, tokenizer_src: Path, model_dir: Path, spec: TextModelSpec) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return text_model.export_text_model(model, tokenizer_src, model_dir, spec)  # type: ignore[arg-type]
