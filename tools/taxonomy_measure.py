"""Measurements behind docs/benchmarks/taxonomy.md (one-off, not shipped).

    python -m tools.taxonomy_measure buckets --data C1000 --out J      # subword F1 vs hash buckets
    python -m tools.taxonomy_measure lgbm --out J                       # LightGBM / booster cost vs classes
    python -m tools.taxonomy_measure latency --repo R --out J           # fusion time per offer
    python -m tools.taxonomy_measure bow --data C --out J               # bow: dense vs sparse step
    python -m tools.taxonomy_measure svm --data C --out J               # subword solver, 1 or 2 processes

``buckets``: the served subword recipe (training.subword_model: sublinear counts, IDF with
min_df 2, word|char blocks, LinearSVC C=0.5) on the catalog's held-out split (training.split,
seed 42), only the bucket count changes; the table itself is never built (the solver's
coefficients score the test rows), so 2^20 x 1,000 labels can be measured without 4 GB.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def buckets(data: Path, grid: list[int]) -> dict[str, Any]:
    from dataclasses import replace

    from sklearn.metrics import f1_score
    from sklearn.svm import LinearSVC

    from shared.ml.model_repo import TextModelSpec
    from shared.ml.preprocess import TextTokenizer
    from training import subword_model, text_model
    from training.data import load_catalog
    from training.hierarchy_report import catalog_taxonomy, hierarchy_metrics
    from training.profiles import PROFILES
    from training.split import make_split

    default = PROFILES["default"]
    catalog = load_catalog(data, default.max_chars, require_labels=True)
    codes = catalog.codes()
    index = {c: i for i, c in enumerate(codes)}
    y = np.array([index[c] for c in catalog.labels or []])
    split = make_split(catalog, default.seed, default.test_fraction, default.oof_folds, "text")
    train, test = split.train, split.test
    out: dict[str, Any] = {"data": str(data), "classes": len(codes), "train_rows": len(train),
                           "test_rows": len(test), "variants": {}}  # fmt: skip
    for b in grid:
        profile = replace(default, subword_buckets=b, subword_word_buckets=max(1, b // 4))
        spec = subword_model.subword_spec(profile)
        model_spec = TextModelSpec(name="text_subword", base="subword", triton_version=1, tokenizer_dir=".",
                                   max_length=spec.max_features, subword=spec)  # fmt: skip
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as work:
            encoded = text_model.EncodedTexts(TextTokenizer(Path(work), model_spec), catalog.texts)
        model = subword_model.SubwordClassifier(b, 1, profile.subword_word_buckets)
        model.fit_idf([encoded.ids[i] for i in train], profile.subword_min_df)
        x_train = subword_model.feature_matrix(model, encoded, train)
        x_test = subword_model.feature_matrix(model, encoded, test)
        used = np.unique(x_train.indices)
        svm = LinearSVC(C=profile.subword_c, random_state=0, max_iter=5000).fit(x_train[:, used], y[train])
        predicted = svm.classes_[np.asarray(x_test[:, used] @ svm.coef_.T).argmax(1)]
        f1 = float(f1_score(y[test], predicted, average="weighted", zero_division=0))
        tree = catalog_taxonomy(data, codes)
        levels = hierarchy_metrics(tree, codes, y[test], predicted) if tree is not None else None
        out["variants"][str(b)] = {
            "hierarchy": levels,
            "buckets": b, "log2": int(np.log2(b)), "weighted_f1": round(f1, 4),
            "used_buckets": len(used), "dense_table_mb": round(b * len(codes) * 4 / 1e6, 1),
            "seconds": round(time.monotonic() - started, 1), "load": _load(),
        }  # fmt: skip
        print(out["variants"][str(b)], flush=True)
    return out


def bow(data: Path, epochs: int | None, variants: list[str]) -> dict[str, Any]:
    """The bow model (default profile, sized for the catalog's labels) trained dense (AdamW over
    the whole table) and sparse (SparseAdam over the rows a batch touches) on the same rows of
    the held-out split (training.split, 10% of the training rows for early stopping): time,
    CPU, weighted F1 per level on the test rows."""
    import resource
    import shutil
    from dataclasses import replace

    import torch
    from sklearn.metrics import f1_score

    from shared.ml.model_repo import TextModelSpec
    from shared.ml.preprocess import TextTokenizer
    from training import bow_model, text_model
    from training.data import load_catalog
    from training.hierarchy_report import catalog_taxonomy, hierarchy_metrics
    from training.profiles import PROFILES, sized_for_labels
    from training.split import make_split

    catalog = load_catalog(data, PROFILES["default"].max_chars, require_labels=True)
    codes = catalog.codes()
    index = {c: i for i, c in enumerate(codes)}
    y = np.array([index[c] for c in catalog.labels or []])
    profile = sized_for_labels(PROFILES["default"], len(codes))
    profile = replace(profile, bow_epochs=epochs) if epochs else profile
    split = make_split(catalog, profile.seed, profile.test_fraction, profile.oof_folds, "text")
    train = np.random.default_rng(profile.seed).permutation(split.train)
    n_val = max(1, int(len(train) * profile.val_fraction))
    val, fit, test = np.sort(train[:n_val]), np.sort(train[n_val:]), split.test
    settings = bow_model.bow_training(profile)
    tree = catalog_taxonomy(data, codes)
    out: dict[str, Any] = {"data": str(data), "classes": len(codes), "fit_rows": len(fit),
                           "val_rows": len(val), "test_rows": len(test), "buckets": profile.bow_buckets,
                           "epochs": settings.epochs, "variants": {}}  # fmt: skip
    with tempfile.TemporaryDirectory() as work:
        spec = TextModelSpec(name="text_bow", base="bow", triton_version=1, tokenizer_dir="tok",
                             max_length=profile.bow_max_length)  # fmt: skip
        vocab = bow_model.build_bow_model(1, Path(work) / "tok", 16).unigram.num_embeddings  # + tokenizer
        encoded = text_model.EncodedTexts(TextTokenizer(Path(work), spec), catalog.texts)
        for variant in variants:
            torch.manual_seed(profile.seed)
            model = bow_model.BowClassifier(vocab, len(codes), profile.bow_buckets, variant == "sparse")
            wall, cpu = time.monotonic(), time.process_time()
            result = text_model.train_text_model(
                model, encoded, fit, y[fit], val, y[val], settings, Path(work) / variant / "checkpoint.pt",
                f"bow {variant}", None, torch.device("cpu"),
            )  # fmt: skip
            wall, cpu = time.monotonic() - wall, time.process_time() - cpu
            predicted = text_model.logits_of(model, encoded, test).argmax(1)
            f1 = float(f1_score(y[test], predicted, average="weighted", zero_division=0))
            shutil.rmtree(Path(work) / variant)
            out["variants"][variant] = {
                "epochs_run": len(result.losses), "best_epoch": result.best_epoch,
                "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                "cpu_s_per_epoch": round(cpu / max(1, len(result.losses)), 1),
                "weighted_f1": round(f1, 4),
                "hierarchy": hierarchy_metrics(tree, codes, y[test], predicted) if tree is not None else None,
                "max_rss_kb_so_far": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "load": _load(),
            }  # fmt: skip
            print(variant, out["variants"][variant], flush=True)
    return out


def _binary_fits(x: Any, y: np.ndarray, classes: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.svm import LinearSVC

    fits = [LinearSVC(C=c, random_state=0, max_iter=5000).fit(x, (y == k).astype(int)) for k in classes]
    return np.array([f.coef_[0] for f in fits]), np.array([f.intercept_[0] for f in fits])


def svm(data: Path) -> dict[str, Any]:
    """One subword fit (training.subword_model.fit_exact's solver, the profile sized for the
    catalog's labels) on the split's training rows: liblinear's one-vs-rest in one call, then
    the same binary problems split over 2 worker processes (what a parallel fit would cost)."""
    from concurrent.futures import ProcessPoolExecutor

    from sklearn.metrics import f1_score
    from sklearn.svm import LinearSVC

    from shared.ml.model_repo import TextModelSpec
    from shared.ml.preprocess import TextTokenizer
    from training import subword_model, text_model
    from training.data import load_catalog
    from training.profiles import PROFILES, sized_for_labels
    from training.split import make_split

    catalog = load_catalog(data, PROFILES["default"].max_chars, require_labels=True)
    codes = catalog.codes()
    index = {c: i for i, c in enumerate(codes)}
    y = np.array([index[c] for c in catalog.labels or []])
    profile = sized_for_labels(PROFILES["default"], len(codes))
    split = make_split(catalog, profile.seed, profile.test_fraction, profile.oof_folds, "text")
    train, test = split.train, split.test
    spec = subword_model.subword_spec(profile)
    model_spec = TextModelSpec(name="text_subword", base="subword", triton_version=1, tokenizer_dir=".",
                               max_length=spec.max_features, subword=spec)  # fmt: skip
    with tempfile.TemporaryDirectory() as work:
        encoded = text_model.EncodedTexts(TextTokenizer(Path(work), model_spec), catalog.texts)
    model = subword_model.SubwordClassifier(spec.buckets, 1, spec.word_buckets)
    model.fit_idf([encoded.ids[i] for i in train], profile.subword_min_df)
    x_train = subword_model.feature_matrix(model, encoded, train)
    used = np.unique(x_train.indices)
    x_fit, x_test = x_train[:, used], subword_model.feature_matrix(model, encoded, test)[:, used]
    out: dict[str, Any] = {"data": str(data), "classes": len(codes), "train_rows": len(train),
                           "nnz": int(x_fit.nnz), "features": len(used)}  # fmt: skip
    started, cpu = time.monotonic(), time.process_time()
    one = LinearSVC(C=profile.subword_c, random_state=0, max_iter=5000).fit(x_fit, y[train])
    out["one_call"] = {"wall_s": round(time.monotonic() - started, 1),
                       "cpu_s": round(time.process_time() - cpu, 1)}  # fmt: skip
    classes = one.classes_
    started = time.monotonic()
    with ProcessPoolExecutor(2) as pool:
        parts = list(pool.map(_binary_fits, [x_fit] * 2, [y[train]] * 2, np.array_split(classes, 2),
                              [profile.subword_c] * 2))  # fmt: skip
    coef = np.vstack([p[0] for p in parts])
    intercept = np.concatenate([p[1] for p in parts])
    out["two_processes"] = {"wall_s": round(time.monotonic() - started, 1)}
    scores = {"one_call": x_test @ one.coef_.T + one.intercept_, "two_processes": x_test @ coef.T + intercept}
    for name, score in scores.items():
        predicted = classes[np.asarray(score).argmax(1)]
        f1 = float(f1_score(y[test], predicted, average="weighted", zero_division=0))
        out[name]["weighted_f1"] = round(f1, 4)
    out["max_abs_coef_diff"] = float(np.abs(coef - one.coef_).max())
    out["load"] = _load()
    print(out, flush=True)
    return out


def lgbm(rows_per_label: float, label_grid: list[int], rounds: int) -> dict[str, Any]:
    """Seconds per LightGBM round and per booster fit on meta features of a run's shape
    (3 models' logits + booster probabilities; rows = the run's fusion rows)."""
    import lightgbm
    import torch

    from training.fusion_train import _lgbm_params, train_booster, train_combiner
    from training.profiles import PROFILES

    profile = PROFILES["default"]
    out: dict[str, Any] = {"rows_per_label": rows_per_label, "rounds_timed": rounds, "labels": {}}
    for n_labels in label_grid:
        rng = np.random.default_rng(0)
        n = int(rows_per_label * n_labels)
        y = rng.integers(0, n_labels, n)
        logits = rng.normal(size=(n, 3, n_labels)).astype(np.float64)
        logits[np.arange(n), :, y] += 2.0
        features = logits.reshape(n, -1)
        meta = np.concatenate([features, rng.dirichlet(np.ones(n_labels), n)], axis=1)
        params = _lgbm_params(n_labels, n, profile)
        started = time.monotonic()
        lightgbm.train(params, lightgbm.Dataset(meta, label=y), num_boost_round=rounds)
        per_round = (time.monotonic() - started) / rounds
        torch.manual_seed(0)
        started = time.monotonic()
        train_booster(features, y, n_labels, profile, 0)
        booster_s = time.monotonic() - started
        started = time.monotonic()
        train_combiner(features, y, 3, n_labels)
        combiner_s = time.monotonic() - started
        out["labels"][str(n_labels)] = {
            "rows": n, "meta_features": meta.shape[1], "lgbm_s_per_round": round(per_round, 3),
            "booster_fit_s": round(booster_s, 1), "combiner_fit_s": round(combiner_s, 2),
            # one path: 3 LightGBM folds + the final fit, up to lgbm_rounds each; booster 5 folds + 1
            "lgbm_path_s_at_100_rounds": round(per_round * 100 * 4, 0),
            "booster_path_s": round(booster_s * (profile.booster_folds + 1), 0),
            "load": _load(),
        }  # fmt: skip
        print(n_labels, out["labels"][str(n_labels)], flush=True)
    return out


def latency(repos: list[Path], repeats: int) -> dict[str, Any]:
    """Fusion time per offer as the fusion worker runs it (shared.ml.fusion.FusionModel)."""
    from shared.ml.fusion import FusionModel
    from shared.ml.model_repo import read_manifest

    out: dict[str, Any] = {}
    for repo in repos:
        manifest = read_manifest(repo)
        fusion = FusionModel.load(repo, manifest)
        n_labels = len(manifest.labels)
        rng = np.random.default_rng(0)
        result: dict[str, Any] = {"labels": n_labels, "meta_model": manifest.fusion.params.get("meta_model",
                                  "booster+lightgbm") if manifest.fusion else None}  # fmt: skip
        for batch in (1, 64):
            names = manifest.fusion.params["paths"]["full"] if manifest.fusion else []
            text = {m: rng.normal(size=(batch, n_labels)) for m in names if m.startswith("text")}
            image = {m: rng.normal(size=(batch, n_labels)) for m in names if m.startswith("image")}
            fusion.predict_proba(text, image)
            started = time.perf_counter()
            for _ in range(repeats):
                fusion.predict_proba(text, image)
            result[f"ms_per_offer_batch_{batch}"] = round(
                (time.perf_counter() - started) * 1e3 / repeats / batch, 3
            )
        result["load"] = _load()
        out[str(repo)] = result
        print(repo, result, flush=True)
    return out


def synthetic_repo(root: Path, n_labels: int, rows_per_label: float) -> Path:
    """A repository whose only content is a fusion trained (default profile) on random logits
    of three models at ``n_labels`` classes: what the fusion worker loads, at that size."""
    from datetime import UTC, datetime

    from shared.ml.model_repo import LabelSpec, Manifest, publish_manifest
    from training.fusion_train import train_fusion
    from training.profiles import PROFILES

    rng = np.random.default_rng(0)
    n = int(rows_per_label * n_labels)
    y = rng.integers(0, n_labels, n)
    names = ["text_subword", "text_bow", "image_efficientnet_lite0"]
    logits = {}
    for name in names:
        out = rng.normal(size=(n, n_labels)).astype(np.float32)
        out[np.arange(n), y] += 2.5
        logits[name] = out
    repo = root / f"fusion{n_labels}"
    spec = train_fusion(
        logits, np.ones(n, bool), np.ones(n, bool), y, names[:2], names[2:], n_labels,
        PROFILES["default"], repo / "fusion" / "1", "fusion/1",
    )  # fmt: skip
    publish_manifest(repo, Manifest(
        version="r1-fusion", revision=1, created_at=datetime.now(UTC), fusion=spec,
        labels=[LabelSpec(prdtypecode=c, name=str(c)) for c in range(n_labels)],
    ))  # fmt: skip
    return repo


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["buckets", "lgbm", "latency", "bow", "svm"])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--repo", type=Path, action="append", default=[])
    parser.add_argument("--grid", default="14,15,16,17,18,20")
    parser.add_argument("--labels", default="27,300,1000")
    parser.add_argument("--rows-per-label", type=float, default=4.3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--epochs", type=int, help="bow: epochs instead of the profile's")
    parser.add_argument("--variants", default="dense,sparse", help="bow: dense, sparse or both")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    started = _now()
    if args.what == "buckets":
        body = buckets(args.data, [2 ** int(k) for k in args.grid.split(",")])
    elif args.what == "svm":
        body = svm(args.data)
    elif args.what == "bow":
        body = bow(args.data, args.epochs, args.variants.split(","))
    elif args.what == "lgbm":
        body = lgbm(args.rows_per_label, [int(k) for k in args.labels.split(",")], args.rounds)
    else:
        with tempfile.TemporaryDirectory() as root:
            repos = args.repo + [
                synthetic_repo(Path(root), int(k), args.rows_per_label) for k in args.labels.split(",") if k
            ]
            body = latency(repos, args.repeats)
    body.update({"measured_at": started, "finished_at": _now(), "what": args.what})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(body, indent=1), "utf-8")


if __name__ == "__main__":
    main()
