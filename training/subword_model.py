"""A fastText-style featurizer under a linear TF-IDF classifier fitted by LinearSVC itself:
hashed words, word n-grams and character n-grams of words (Joulin et al., "Bag of Tricks for
Efficient Text Classification"), sublinear TF x IDF, words and characters L2-normalised apart,
one linear layer whose weights are liblinear's exact squared-hinge solution.

Why this model: it reads French, German, Spanish... alike (character n-grams of whole words, no
English vocabulary), fits in seconds per fold on 2 cores, and exports to ONNX as Gathers and
a sum, so both backends serve it. Its inputs come from shared.ml.subword (through
shared.ml.preprocess.TextTokenizer): training and serving featurize with the same function.

Why it mirrors TF-IDF + LinearSVC (the same-run baseline every report carries) and is fitted
by liblinear rather than trained: on a real multilingual catalog the former version (one L2
norm over all n-grams, 2^18 buckets, 2,048 ids per offer, Adam with early stopping) scored
0.027 below the baseline; the solver, the cap and the shared norm each cost part of it, bucket
collisions almost nothing (docs/benchmarks/subword-causes.json). With the baseline's weighting
(two blocks, sublinear TF, min_df 2), its solver, C and training rows, the served model is the
baseline's model up to hashing, and stays a servable ONNX model the fusion stacks. The Adam
recipe (:func:`prepare_fit`, :func:`subword_training`) stays for services.bench.subword_bench's
comparison and the GPU check's step counts.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from shared.ml.model_repo import TextModelSpec
from shared.ml.subword import SubwordSpec
from training import text_model
from training.loop import FitResult, squared_hinge
from training.profiles import Profile

SUBWORD_BASES = {"subword", "fasttext"}
SUBWORD_VIEWS: dict[str, dict[str, object]] = {
    # the title alone: a brand or product word weighs more than in a long description
    "subword_title": {"view": "title", "buckets": 2**18, "word_buckets": 2**16},
    # character n-grams alone, normalised over themselves: inflections, compounds, languages
    "subword_chars": {"words": False, "buckets": 2**18, "word_buckets": 1},
}
"""Other views of the same offer, each a base of its own (``--text-base subword_title``):
the same featurizer, graph and exact fit as ``subword``, another spec, fewer buckets (2^18:
28 MB of ONNX at 27 labels). Stacked with ``subword`` they give the text path several
classical views to choose from by cross-validation (docs/benchmarks/training.md)."""


def is_subword(base: str) -> bool:
    return base in SUBWORD_BASES or base in SUBWORD_VIEWS


def model_name(base: str) -> str:
    """Triton model name of a subword base: ``text_subword``, ``text_subword_title``, ..."""
    return "text_subword" if base in SUBWORD_BASES else f"text_{base}"


class SubwordClassifier(nn.Module):
    """(input_ids, attention_mask) -> scores: ``sum_i idf[id_i] * W[id_i] / ||idf[ids of i's block]|| + b``.

    Each position counts (a repeated n-gram weighs its count times its IDF); ids below
    ``split`` (words, word n-grams) and the others (character n-grams) are normalised apart,
    each block by the norm of its position weights (``split`` 0: one block). Trains and scores
    through ``EmbeddingBag`` with per-position weights; :class:`ExportedSubword` computes the
    same function with Gathers for ONNX.
    """

    def __init__(self, buckets: int, n_labels: int, split: int = 0) -> None:
        super().__init__()
        self.table = nn.EmbeddingBag(buckets, n_labels, mode="sum")
        self.bias = nn.Parameter(torch.zeros(n_labels))
        self.split = split
        self.idf: torch.Tensor
        self.register_buffer("idf", torch.ones(buckets))
        nn.init.zeros_(self.table.weight)

    def fit_idf(self, documents: Iterable[np.ndarray], min_df: int = 1) -> None:
        """Smoothed IDF of each bucket over ``documents`` (the training rows' ids), as
        scikit-learn's TfidfTransformer: ``ln((1 + n) / (1 + df)) + 1``; 0 (the bucket is
        ignored, norms included) where fewer than ``min_df`` rows have it, as TfidfVectorizer
        ignores terms out of its vocabulary."""
        buckets = self.idf.shape[0]
        frequency = np.zeros(buckets, dtype=np.float64)
        n = 0
        for ids in documents:
            frequency[np.unique(ids)] += 1.0
            n += 1
        idf = np.where(frequency >= min_df, np.log((1.0 + n) / (1.0 + frequency)) + 1.0, 0.0)
        self.idf.copy_(torch.from_numpy(idf.astype(np.float32)))

    def position_weights(
        self, flat: torch.Tensor, counts: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Weight of each position of the concatenated rows: ``(1 + ln count) * idf`` over its
        block's norm (count 1 when ids repeat instead)."""
        rows = torch.repeat_interleave(torch.arange(len(lengths), device=flat.device), lengths)
        weights = self.idf[flat] * (1.0 + torch.log(counts.to(torch.float32)))
        block = rows * 2 + (flat >= self.split).long()
        squared = torch.zeros(2 * len(lengths), device=flat.device).index_add_(0, block, weights * weights)
        return weights / squared[block].sqrt().clamp(min=1e-12)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        keep = attention_mask.bool()
        lengths = keep.sum(1)
        offsets = torch.cumsum(lengths, 0) - lengths
        flat = input_ids[keep]
        weights = self.position_weights(flat, attention_mask[keep], lengths)
        summed = self.table(flat, offsets, per_sample_weights=weights)
        return summed + self.bias  # type: ignore[no-any-return]


class ExportedSubword(nn.Module):
    """The same function as :class:`SubwordClassifier` in ONNX-friendly ops (Gather, ReduceSum)."""

    def __init__(self, model: SubwordClassifier) -> None:
        super().__init__()
        self.weight = model.table.weight
        self.idf: torch.Tensor = model.idf
        self.bias = model.bias
        self.split = model.split

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        count = attention_mask.to(torch.float32)
        weights = self.idf[input_ids] * torch.where(count > 0, 1.0 + torch.log(count.clamp(min=1.0)), 0.0)
        chars = (input_ids >= self.split).to(torch.float32)
        squared = weights * weights
        char_norm = (squared * chars).sum(1, keepdim=True).sqrt()
        word_norm = (squared * (1.0 - chars)).sum(1, keepdim=True).sqrt()
        norm = (chars * char_norm + (1.0 - chars) * word_norm).clamp(min=1e-12)
        summed = (nn.functional.embedding(input_ids, self.weight) * (weights / norm).unsqueeze(-1)).sum(1)
        return summed + self.bias  # type: ignore[no-any-return]


def subword_spec(profile: Profile, base: str = "subword") -> SubwordSpec:
    """The featurization of ``base``: the profile's, changed by its view (:data:`SUBWORD_VIEWS`);
    a profile with fewer buckets than a view's keeps its own."""
    spec = SubwordSpec(
        buckets=profile.subword_buckets,
        min_n=profile.subword_min_n,
        max_n=profile.subword_max_n,
        word_ngrams=profile.subword_word_ngrams,
        max_features=profile.subword_max_features,
        word_buckets=profile.subword_word_buckets,
        counts=profile.subword_counts,
    )
    view = dict(SUBWORD_VIEWS.get(base, {}))
    if int(view.get("buckets", 0)) > spec.buckets:  # type: ignore[call-overload]
        view.pop("buckets")
        view["word_buckets"] = min(int(view["word_buckets"]), spec.word_buckets)  # type: ignore[call-overload]
    return spec.model_copy(update=view)


def build_subword_model(
    profile: Profile, n_labels: int, spec: SubwordSpec | None = None
) -> SubwordClassifier:
    spec = spec or subword_spec(profile)
    torch.manual_seed(profile.seed)
    return SubwordClassifier(spec.buckets, n_labels, spec.word_buckets)


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


def temperature_of(logits: np.ndarray, labels: np.ndarray) -> float:
    """The factor on ``logits`` (a model's scores of held-out rows) that minimises their
    cross-entropy; 1 without rows.

    Why: hinge scores sit near -1..1, so their softmax (what a path serves when it falls back
    to this model, and what explanations show) would put ~0.2 on a sure class. Scaling the
    table and bias leaves the ranking, the argmax and the stacking features' information alone.
    """
    if len(labels) == 0:
        return 1.0
    scores = torch.from_numpy(np.asarray(logits, dtype=np.float64))
    target = torch.from_numpy(np.asarray(labels)).long()
    grid = torch.logspace(-1.0, 2.5, 141, dtype=torch.float64)
    with torch.no_grad():
        losses = torch.stack([nn.functional.cross_entropy(scores * t, target) for t in grid])
    return float(grid[int(torch.argmin(losses))])


@torch.no_grad()
def scale(model: SubwordClassifier, factor: float) -> None:
    """Multiply the model's scores by ``factor`` (its table and bias)."""
    model.table.weight.mul_(factor)
    model.bias.mul_(factor)


def calibrate(model: SubwordClassifier, logits: np.ndarray, labels: np.ndarray) -> float:
    """Scale the model's scores by :func:`temperature_of` ``logits`` and return the factor."""
    temperature = temperature_of(logits, labels)
    scale(model, temperature)
    return temperature


@torch.no_grad()
def feature_matrix(
    model: SubwordClassifier, encoded: text_model.EncodedTexts, rows: np.ndarray
) -> sp.csr_matrix:
    """The model's input of ``rows`` as a sparse matrix (row, bucket): what its table multiplies."""
    device = model.idf.device
    ids = [torch.from_numpy(encoded.ids[i]) for i in rows]
    lengths = torch.tensor([len(t) for t in ids], dtype=torch.long)
    flat = torch.cat([*ids, torch.zeros(0, dtype=torch.long)]).to(device)
    counts = torch.cat(
        [*(torch.from_numpy(encoded.counts[i]) for i in rows), torch.zeros(0, dtype=torch.long)]
    )
    weights = (
        model.position_weights(flat, counts.to(device), lengths.to(device)).cpu().numpy().astype(np.float64)
    )
    positions = np.repeat(np.arange(len(rows)), lengths.numpy())
    shape = (len(rows), model.idf.shape[0])
    matrix = sp.csr_matrix((weights, (positions, flat.cpu().numpy())), shape=shape)
    matrix.sum_duplicates()
    return matrix


@torch.no_grad()
def fit_exact(
    model: SubwordClassifier,
    encoded: text_model.EncodedTexts,
    rows: np.ndarray,
    labels: np.ndarray,
    c: float,
    min_df: int = 1,
    processes: int = 1,
) -> None:
    """IDF from ``rows``, then LinearSVC(C=c) - liblinear's exact squared-hinge, one-vs-rest
    solution, the baseline's solver - on exactly the features the model computes; its weights
    become the table (buckets no training row uses keep 0) and its intercepts the bias.

    ``processes`` > 1 (many classes, :func:`fit_processes`): the same binary problems split by
    class over that many worker processes (training.ovr), equal to the solver's tolerance."""
    from sklearn.svm import LinearSVC

    from training import ovr

    model.fit_idf([encoded.ids[i] for i in rows], min_df)
    matrix = feature_matrix(model, encoded, rows)
    used = np.unique(matrix.indices)
    classes = np.unique(labels)
    model.table.weight.zero_()
    model.bias.fill_(-1.0)  # a class no row has: every row is its negative
    if len(classes) < 2:
        model.bias[torch.from_numpy(classes).long()] = 1.0
        return
    if processes > 1 and len(classes) > 2:
        _, coef, intercept = ovr.one_vs_rest(matrix[:, used], labels, c, processes)
    else:
        svm = LinearSVC(C=c, random_state=0, max_iter=5000).fit(matrix[:, used], labels)
        coef, intercept = svm.coef_, svm.intercept_
    if len(classes) == 2:  # one decision function: class 1's score, class 0's is its opposite
        coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
    device = model.table.weight.device
    columns = torch.from_numpy(classes).to(device)
    buckets = torch.from_numpy(used).to(device)[:, None]
    model.table.weight[buckets, columns] = torch.from_numpy(coef.T.astype(np.float32)).to(device)
    model.bias[columns] = torch.from_numpy(intercept.astype(np.float32)).to(device)


def fit_processes(profile: Profile, n_labels: int) -> int:
    """Worker processes of a fit at ``n_labels`` classes: the profile's above
    ``text_many_labels`` (docs/benchmarks/taxonomy.md), else 1 (the one liblinear call: fewer
    classes keep their exact former solution)."""
    return profile.subword_fit_processes if n_labels > profile.text_many_labels else 1


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
    """The whole fit of one subword model: :func:`fit_exact` on ``rows``, the temperature of
    its scores on ``val_rows`` (:func:`temperature_of`), then :func:`fit_exact` again on
    ``rows`` and ``val_rows`` together - the rows the same-run baseline trains on - scaled by
    that temperature. ``model`` must already be on ``device``; ``checkpoint`` is unused (no
    epochs to resume)."""
    del checkpoint, description, device
    processes = fit_processes(profile, model.bias.shape[0])
    fit_exact(model, encoded, rows, labels, profile.subword_c, profile.subword_min_df, processes)
    val_logits = text_model.logits_of(model, encoded, val_rows)
    train_loss = float(squared_hinge(torch.from_numpy(text_model.logits_of(model, encoded, rows)),
                                     torch.from_numpy(labels).long()))  # fmt: skip
    val_loss = (
        float(squared_hinge(torch.from_numpy(val_logits), torch.from_numpy(val_labels).long()))
        if len(val_rows) else float("nan")
    )  # fmt: skip
    temperature = temperature_of(val_logits, val_labels)
    if len(val_rows):
        everything = np.concatenate([rows, val_rows])
        everything_labels = np.concatenate([labels, val_labels])
        fit_exact(model, encoded, everything, everything_labels, profile.subword_c, profile.subword_min_df,
                  processes)  # fmt: skip
    scale(model, temperature)
    return FitResult([train_loss], [val_loss], 0, False)


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
