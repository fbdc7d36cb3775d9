"""Training the fusion meta-model (the seed study's recipe) on out-of-fold logits.

Per path (full, text, image): a booster MLP over the concatenated logits, cross-fitted so that
LightGBM sees booster outputs of rows the booster did not train on, then LightGBM over
``[logits, booster probabilities]``, its round count chosen by early stopping in K folds.
Above ``Profile.fusion_lgbm_max_labels`` classes a path is instead a class-shared linear
combiner of the models' logits (:func:`train_combiner`), cross-fitted the same way.

Why the blend: a meta-model can score below its best input (seen: text path 0.808 < text_bow
0.830 with a 1,280-row fusion slice). The out-of-fold probabilities of the meta-model give each
path an honest score; the path then serves ``w * meta + (1 - w) * best single model`` with the
``w`` that scored best out of fold (w = 0 is a plain fallback). The files are read back by
shared.ml.fusion.FusionModel.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shared.ml.fusion import booster_forward, combiner_forward, pool_forward, softmax, stack_logits
from shared.ml.model_repo import FusionSpec
from training.fusion_pool import choose_pool, prefer_pool, weighted_f1_of
from training.profiles import Profile

log = logging.getLogger(__name__)

BLEND_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
POOL_PATHS = ("text", "full")
"""Paths that may serve a pool of their models instead of LightGBM (training.fusion_pool says
why, and how one is kept over the other)."""


def train_booster(
    features: np.ndarray, labels: np.ndarray, n_labels: int, profile: Profile, seed: int
) -> dict[str, np.ndarray]:
    """Full-batch Adam on a one-hidden-layer MLP; numpy weights for shared.ml.fusion."""
    mean = features.mean(axis=0)
    std = features.std(axis=0) + 1e-6
    x = torch.from_numpy(((features - mean) / std).astype(np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: extra threads only add synchronisation
    try:
        net = _fit_mlp(x, y, n_labels, profile)
    finally:
        torch.set_num_threads(threads)
    first, last = net[0], net[3]
    assert isinstance(first, nn.Linear) and isinstance(last, nn.Linear)
    return {
        "mean": mean,
        "std": std,
        "w1": first.weight.detach().numpy().T.astype(np.float64),
        "b1": first.bias.detach().numpy().astype(np.float64),
        "w2": last.weight.detach().numpy().T.astype(np.float64),
        "b2": last.bias.detach().numpy().astype(np.float64),
    }


def _fit_mlp(x: torch.Tensor, y: torch.Tensor, n_labels: int, profile: Profile) -> nn.Sequential:
    net = nn.Sequential(
        nn.Linear(x.shape[1], profile.booster_hidden),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(profile.booster_hidden, n_labels),
    )
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    net.train()
    for _ in range(profile.booster_epochs):
        optimizer.zero_grad()
        loss_fn(net(x), y).backward()
        optimizer.step()
    net.eval()
    return net


def cross_fit_booster(
    features: np.ndarray, labels: np.ndarray, n_labels: int, profile: Profile
) -> np.ndarray:
    """Out-of-fold booster probabilities for every row."""
    folds = max(2, min(profile.booster_folds, len(labels)))
    assignment = np.random.default_rng(profile.seed).permutation(len(labels)) % folds
    out = np.zeros((len(labels), n_labels))
    for fold in range(folds):
        train, held = assignment != fold, assignment == fold
        weights = train_booster(features[train], labels[train], n_labels, profile, profile.seed + fold)
        out[held] = booster_forward(weights, features[held])
    return out


def train_combiner(
    features: np.ndarray, labels: np.ndarray, n_models: int, n_labels: int
) -> dict[str, np.ndarray]:
    """One weight per model shared by every class and a bias per class, fitted by L-BFGS on the
    cross-entropy (a little L2 on the biases): shared.ml.fusion.combiner_forward serves it.

    Why: at hundreds of classes LightGBM's one tree per class per round and the booster's
    (models x classes) input layer are slow and, with a few offers per tail leaf, learn little
    that a per-model weight does not (docs/benchmarks/taxonomy.md)."""
    x = torch.from_numpy(features.reshape(len(features), n_models, n_labels).astype(np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    weights = torch.ones(n_models, requires_grad=True)
    bias = torch.zeros(n_labels, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], lr=1.0, max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        scores = torch.einsum("bml,m->bl", x, weights) + bias
        loss = nn.functional.cross_entropy(scores, y) + 1e-3 * (bias * bias).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    return {
        "model_weights": weights.detach().numpy().astype(np.float64),
        "bias": bias.detach().numpy().astype(np.float64),
    }


def cross_fit_combiner(
    features: np.ndarray, labels: np.ndarray, n_models: int, n_labels: int, profile: Profile
) -> np.ndarray:
    """Out-of-fold combiner probabilities (the path's honest score and its blend's)."""
    folds = max(2, min(profile.fusion_folds, len(labels)))
    assignment = np.random.default_rng(profile.seed + 3).permutation(len(labels)) % folds
    out = np.zeros((len(labels), n_labels))
    for fold in range(folds):
        train, held = assignment != fold, assignment == fold
        out[held] = combiner_forward(
            train_combiner(features[train], labels[train], n_models, n_labels), features[held]
        )
    return out


def _lgbm_params(n_labels: int, n_rows: int, profile: Profile) -> dict[str, object]:
    return {
        "objective": "multiclass",
        "num_class": n_labels,
        "learning_rate": profile.lgbm_learning_rate,
        "num_leaves": profile.lgbm_num_leaves,
        "min_data_in_leaf": int(min(20, max(2, n_rows // 60))),
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "num_threads": 1,  # small data: more threads only spin on a shared machine
        "seed": profile.seed,
        "deterministic": True,
        "verbose": -1,
    }


def cross_fit_lgbm(
    meta: np.ndarray, labels: np.ndarray, n_labels: int, profile: Profile
) -> tuple[np.ndarray, int]:
    """(out-of-fold LightGBM probabilities, number of rounds): each fold early-stops on its own
    held-out rows (multi_logloss, ``lgbm_early_stopping`` rounds of patience), and the final
    model gets the mean best round count. Why: a fixed 150 rounds over-fitted small paths and
    under-fitted large ones; the out-of-fold probabilities also give the path's honest score."""
    import lightgbm

    folds = max(2, min(profile.fusion_folds, len(labels)))
    assignment = np.random.default_rng(profile.seed + 3).permutation(len(labels)) % folds
    out = np.zeros((len(labels), n_labels))
    rounds: list[int] = []
    params = _lgbm_params(n_labels, len(labels), profile)
    for fold in range(folds):
        train, held = assignment != fold, assignment == fold
        train_set = lightgbm.Dataset(meta[train], label=labels[train])
        held_set = lightgbm.Dataset(meta[held], label=labels[held], reference=train_set)
        model = lightgbm.train(
            params,
            train_set,
            num_boost_round=profile.lgbm_rounds,
            valid_sets=[held_set],
            callbacks=[lightgbm.early_stopping(profile.lgbm_early_stopping, verbose=False)],
        )
        best = int(model.best_iteration or profile.lgbm_rounds)
        out[held] = np.asarray(model.predict(meta[held], num_iteration=best)).reshape(int(held.sum()), -1)
        rounds.append(best)
    return out, max(1, round(float(np.mean(rounds))))


def train_lgbm(meta: np.ndarray, labels: np.ndarray, n_labels: int, profile: Profile, rounds: int) -> object:
    import lightgbm

    dataset = lightgbm.Dataset(meta, label=labels, free_raw_data=False)
    return lightgbm.train(_lgbm_params(n_labels, len(labels), profile), dataset, num_boost_round=rounds)


def weighted_f1(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Weighted F1 of the argmax (training.fusion_pool.weighted_f1_of: scikit-learn's, in numpy)."""
    return weighted_f1_of(labels, probabilities.argmax(1), probabilities.shape[1])


def choose_blend(
    meta_probs: np.ndarray, logits: dict[str, np.ndarray], models: list[str], labels: np.ndarray
) -> dict[str, object]:
    """The blend ``w * meta + (1 - w) * softmax(best single model)`` with the best out-of-fold
    weighted F1 over a grid of ``w`` (w = 1: the meta-model alone; w = 0: fall back to the best
    single model). Ties go to the larger ``w``. A path with one model serves it unblended."""
    singles = {m: weighted_f1(labels, logits[m]) for m in models}
    best_model = max(singles, key=lambda m: singles[m])
    single_probs = softmax(logits[best_model])
    scores = {w: weighted_f1(labels, w * meta_probs + (1 - w) * single_probs) for w in BLEND_GRID}
    weight = max(BLEND_GRID, key=lambda w: (round(scores[w], 6), w))
    if len(models) == 1:
        # One model: the meta-model can only recalibrate it, and its out-of-fold gain is
        # measured on fold models' softer logits, not on the served refit's (on the 6,000-offer
        # run a +0.014 CV gain was a -0.006 held-out loss). The path serves its model as it is.
        weight = 0.0
    return {
        "model": best_model,
        "weight_meta": weight,
        "cv_weighted_f1": {
            "meta": round(scores[1.0], 4),
            "best_single": round(singles[best_model], 4),
            "chosen": round(scores[weight], 4),
            "singles": {m: round(v, 4) for m, v in singles.items()},
        },
    }


def _offer_pool(
    blend: dict[str, object],
    meta_oof: np.ndarray,
    logits: dict[str, np.ndarray],
    models: list[str],
    labels: np.ndarray,
    seed: int,
) -> None:
    """Switch ``blend`` to the pool of ``models`` unless the stack beats it by more than noise
    (training.fusion_pool.prefer_pool); both scores and the rule's figures stay in the manifest."""
    pool = choose_pool(logits, models, labels)
    weight = float(blend["weight_meta"])  # type: ignore[arg-type]
    single = softmax(np.asarray(logits[str(blend["model"])], dtype=np.float64))
    stack = weight * meta_oof + (1 - weight) * single
    pooled = pool_forward(pool["weights"], logits)  # type: ignore[arg-type]
    rule = prefer_pool(labels, stack, pooled, seed)
    scores = blend["cv_weighted_f1"]
    assert isinstance(scores, dict)
    scores["pool"] = pool["cv_weighted_f1"]
    blend["pool_rule"] = rule
    if rule["pool"]:
        scores["chosen"] = pool["cv_weighted_f1"]
        blend.update(meta="pool", pool=pool["weights"], weight_meta=1.0)


def _booster_and_lgbm(
    features: np.ndarray,
    y: np.ndarray,
    n_labels: int,
    profile: Profile,
    out_dir: Path,
    name: str,
    files: dict[str, str],
) -> tuple[np.ndarray, int]:
    """The seed's recipe for one path: booster MLP, then LightGBM over [logits, booster
    probabilities]; writes both files, returns LightGBM's out-of-fold probabilities and rounds."""
    oof = cross_fit_booster(features, y, n_labels, profile)
    booster = train_booster(features, y, n_labels, profile, profile.seed)
    np.savez(out_dir / f"booster_{name}.npz", **booster)  # type: ignore[arg-type]
    meta = np.concatenate([features, oof], axis=1)
    meta_oof, rounds = cross_fit_lgbm(meta, y, n_labels, profile)
    lgbm = train_lgbm(meta, y, n_labels, profile, rounds)
    lgbm.save_model(str(out_dir / f"lgbm_{name}.txt"))  # type: ignore[attr-defined]
    files[f"booster_{name}"] = f"booster_{name}.npz"
    files[f"lgbm_{name}"] = f"lgbm_{name}.txt"
    return meta_oof, rounds


def train_fusion(
    logits: dict[str, np.ndarray],
    has_text: np.ndarray,
    has_image: np.ndarray,
    labels: np.ndarray,
    text_models: list[str],
    image_models: list[str],
    n_labels: int,
    profile: Profile,
    out_dir: Path,
    directory: str,
) -> FusionSpec:
    """Train every path that has models and rows on out-of-fold logits; write its files into
    ``out_dir``. Each path records its cross-validated score and its blend with the best single
    model (shared.ml.fusion applies it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    candidates = {
        "full": (text_models + image_models, has_text & has_image, bool(text_models and image_models)),
        "text": (text_models, has_text, bool(text_models)),
        "image": (image_models, has_image, bool(image_models)),
    }
    files: dict[str, str] = {}
    paths: dict[str, list[str]] = {}
    rows_used: dict[str, int] = {}
    blends: dict[str, dict[str, object]] = {}
    for name, (models, mask, possible) in candidates.items():
        if not possible or mask.sum() < 4 or len(np.unique(labels[mask])) < 2:
            continue
        features = stack_logits(models, {m: logits[m][mask] for m in models})
        y = labels[mask]
        many_labels = n_labels > profile.fusion_lgbm_max_labels
        if many_labels:
            meta_oof, rounds = cross_fit_combiner(features, y, len(models), n_labels, profile), 0
            combiner = train_combiner(features, y, len(models), n_labels)
            np.savez(out_dir / f"combiner_{name}.npz", **combiner)  # type: ignore[arg-type]
            files[f"combiner_{name}"] = f"combiner_{name}.npz"
        else:
            meta_oof, rounds = _booster_and_lgbm(features, y, n_labels, profile, out_dir, name, files)
        paths[name] = models
        rows_used[name] = int(mask.sum())
        path_logits = {m: logits[m][mask] for m in models}
        meta = "combiner" if many_labels else "lgbm"  # what the path serves unless the pool wins
        blend = {**choose_blend(meta_oof, path_logits, models, y), "lgbm_rounds": rounds, "meta": meta}
        if name in POOL_PATHS and len(models) > 1:
            _offer_pool(blend, meta_oof, path_logits, models, y, profile.seed)
        blends[name] = blend
        log.info("fusion path trained", extra={"path": name, "rows": int(mask.sum()), **blends[name]})
    params = {
        "paths": paths,
        "rows": rows_used,
        "blend": blends,
        "booster_hidden": profile.booster_hidden,
        "booster_epochs": profile.booster_epochs,
        "lgbm_max_rounds": profile.lgbm_rounds,
        "meta_model": "combiner" if n_labels > profile.fusion_lgbm_max_labels else "booster+lightgbm",
        "trained_on": "out-of-fold logits of every non-test row (training.oof)",
    }
    return FusionSpec(directory=directory, files=files, params=params)
