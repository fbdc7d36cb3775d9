"""Why the subword model trailed TF-IDF + LinearSVC on real text: hash buckets, the id cap and
the solver, each measured on the same rows.

Every variant featurizes with shared.ml.subword (the serving featurizer) and weighs like
training.subword_model (smoothed IDF, L2 norm); only the named knob changes. ``adam`` is the
early-stopped Adam fit the served model used to have; ``exact`` is liblinear's LinearSVC
(squared hinge, C=0.5) on the identical feature matrix.

    python -m services.bench.subword_bench --catalog data/debian-text --n 4000 \
        --out docs/benchmarks/subword-causes.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from services.bench.text_ceiling import text_offers
from shared.ml.model_repo import TextModelSpec
from shared.ml.preprocess import TextTokenizer
from shared.ml.subword import SubwordSpec, text_ids
from training import subword_model, text_model
from training.baseline import tfidf_svm_baseline
from training.data import load_catalog
from training.profiles import PROFILES


def features(texts: list[str], spec: SubwordSpec, fit_rows: np.ndarray) -> tuple[sp.csr_matrix, float]:
    """The subword model's input as a matrix: counts of each bucket, IDF from ``fit_rows``, rows
    L2-normalised; and the share of texts the id cap cut."""
    rows, cols, cut = [], [], 0
    full = spec.model_copy(update={"max_features": 10**9})
    for i, text in enumerate(texts):
        ids = text_ids(text, full)
        cut += len(ids) > spec.max_features
        ids = ids[: spec.max_features]
        rows.extend([i] * len(ids))
        cols.extend(ids)
    counts = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), spec.buckets))
    counts.sum_duplicates()
    df = np.bincount(counts[fit_rows].indices, minlength=spec.buckets)
    idf = np.log((1.0 + len(fit_rows)) / (1.0 + df)) + 1.0
    weighted = counts @ sp.diags(idf)
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(1))).ravel()
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ weighted), cut / max(1, len(texts))


def _f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    return round(float(f1_score(truth, predicted, average="weighted", zero_division=0)), 4)


def adam_fit(texts: list[str], y: np.ndarray, fit: np.ndarray, val: np.ndarray, test: np.ndarray,
             spec: SubwordSpec, n_labels: int) -> float:  # fmt: skip
    """Weighted F1 of the early-stopped Adam fit (the former training.subword_model recipe)."""
    profile = dataclasses.replace(
        PROFILES["default"], subword_buckets=spec.buckets, subword_max_features=spec.max_features,
        subword_word_buckets=0, subword_counts=False,
    )  # fmt: skip
    model_spec = TextModelSpec(name="text_subword", base="subword", triton_version=1, tokenizer_dir=".",
                               max_length=spec.max_features, subword=spec)  # fmt: skip
    with tempfile.TemporaryDirectory() as work:
        encoded = text_model.EncodedTexts(TextTokenizer(Path(work), model_spec), texts)
        model = subword_model.build_subword_model(profile, n_labels)
        optimizer = subword_model.prepare_fit(model, profile, [encoded.ids[i] for i in fit])
        text_model.train_text_model(
            model, encoded, fit, y[fit], val, y[val], subword_model.subword_training(profile),
            Path(work) / "checkpoint.pt", "subword", optimizer, torch.device("cpu"),
        )  # fmt: skip
        return _f1(y[test], text_model.logits_of(model, encoded, test).argmax(1))


def served_fit(
    texts: list[str], y: np.ndarray, train: np.ndarray, test: np.ndarray, n_labels: int, min_df: int
) -> float:
    """Weighted F1 of the served recipe (training.subword_model.fit_exact, default profile) with
    buckets fewer than ``min_df`` training rows have ignored."""
    profile = PROFILES["default"]
    spec = subword_model.subword_spec(profile)
    model_spec = TextModelSpec(name="text_subword", base="subword", triton_version=1, tokenizer_dir=".",
                               max_length=spec.max_features, subword=spec)  # fmt: skip
    with tempfile.TemporaryDirectory() as work:
        encoded = text_model.EncodedTexts(TextTokenizer(Path(work), model_spec), texts)
    model = subword_model.build_subword_model(profile, n_labels)
    subword_model.fit_exact(model, encoded, train, y[train], profile.subword_c, min_df)
    return _f1(y[test], text_model.logits_of(model, encoded, test).argmax(1))


def measure(texts: list[str], labels: np.ndarray, seed: int, adam: bool, exact_grid: bool) -> dict[str, Any]:
    """Baseline and subword variants on one stratified 80/20 split (10% of training rows are the
    Adam fit's early-stopping rows; the exact fits train on all training rows)."""
    classes, y = np.unique(labels, return_inverse=True)
    train, test = train_test_split(np.arange(len(texts)), test_size=0.2, stratify=y, random_state=seed)
    fit, val = train_test_split(train, test_size=0.1, stratify=y[train], random_state=seed)
    started = time.monotonic()
    out: dict[str, Any] = {"offers": len(texts), "classes": len(classes), "test_rows": len(test)}
    out["baseline_tfidf_svm"] = tfidf_svm_baseline(texts, y, train, test)["weighted_f1"]
    default = PROFILES["default"]
    base = SubwordSpec(buckets=2**18, min_n=default.subword_min_n, max_n=default.subword_max_n,
                       word_ngrams=default.subword_word_ngrams, max_features=2048)  # fmt: skip
    variants: dict[str, dict[str, float]] = {}
    for min_df in (1, 2):
        name = f"served: exact, word|char blocks, sublinear counts, 2^20, cap 32768, min_df={min_df}"
        variants[name] = {"weighted_f1": served_fit(texts, y, train, test, len(classes), min_df)}
    print(variants, flush=True)
    if exact_grid:
        grid(texts, y, train, test, base, variants)
    if adam:
        for buckets, cap in ((2**18, 2048), (2**20, 10**6)):
            spec = base.model_copy(update={"buckets": buckets, "max_features": cap})
            name = f"adam buckets=2^{buckets.bit_length() - 1} cap={'none' if cap > 10**5 else cap}"
            variants[name] = {"weighted_f1": adam_fit(texts, y, fit, val, test, spec, len(classes))}
    out["variants"] = variants
    out["seconds"] = round(time.monotonic() - started, 1)
    return out


def grid(texts: list[str], y: np.ndarray, train: np.ndarray, test: np.ndarray, base: SubwordSpec,
         variants: dict[str, dict[str, float]]) -> None:  # fmt: skip
    """The former one-block featurization (repeated ids, one norm) fitted exactly, per bucket
    count and id cap."""
    for buckets in (2**18, 2**20, 2**22):
        for cap in (2048, 10**6):
            spec = base.model_copy(update={"buckets": buckets, "max_features": cap})
            x, cut = features(texts, spec, train)
            svm = LinearSVC(C=0.5, random_state=0).fit(x[train], y[train])
            name = f"exact buckets=2^{buckets.bit_length() - 1} cap={'none' if cap > 10**5 else cap}"
            variants[name] = {"weighted_f1": _f1(y[test], svm.predict(x[test])), "texts_cut": round(cut, 4)}
            print(name, variants[name], flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.bench.subword_bench", description=__doc__)
    parser.add_argument("--catalog", type=Path, help="A catalog folder (e.g. python -m training.real_text).")
    parser.add_argument("--synthetic", type=int, default=0, help="Also: this many default synthetic offers.")
    parser.add_argument("--n", type=int, default=4000, help="Offers drawn from --catalog.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-adam", action="store_true", help="Skip the (slower) Adam fits.")
    parser.add_argument("--no-grid", action="store_true", help="Skip the bucket x cap grid.")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    if args.catalog:
        catalog = load_catalog(args.catalog, require_labels=True)
        keep = np.random.default_rng(args.seed).permutation(len(catalog))[: args.n]
        texts = [catalog.texts[i] for i in keep]
        labels = np.array(catalog.labels)[keep]  # type: ignore[index]
        report[str(args.catalog.name)] = measure(texts, labels, args.seed, not args.no_adam, not args.no_grid)
    if args.synthetic:
        offers = text_offers(args.synthetic, 1)
        report["synthetic-default"] = measure(
            offers.texts, offers.labels, args.seed, not args.no_adam, not args.no_grid
        )
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
