"""Training the fusion meta-model (the seed study's recipe) on out-of-sample logits.

Per path (full, text, image): a booster MLP over the concatenated logits, cross-fitted so that
LightGBM sees booster outputs of rows the booster did not train on, then LightGBM over
``[logits, booster probabilities]``. The files are read back by shared.fusion.FusionModel.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shared.fusion import booster_forward, stack_logits
from shared.model_repo import FusionSpec
from training.profiles import Profile

log = logging.getLogger(__name__)


def train_booster(
    features: np.ndarray, labels: np.ndarray, n_labels: int, profile: Profile, seed: int
) -> dict[str, np.ndarray]:
    """Full-batch Adam on a one-hidden-layer MLP; numpy weights for shared.fusion."""
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


def train_lgbm(meta: np.ndarray, labels: np.ndarray, n_labels: int, profile: Profile) -> object:
    import lightgbm

    params = {
        "objective": "multiclass",
        "num_class": n_labels,
        "learning_rate": profile.lgbm_learning_rate,
        "num_leaves": profile.lgbm_num_leaves,
        "min_data_in_leaf": int(min(20, max(2, len(labels) // 60))),
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "num_threads": 1,  # small data: more threads only spin on a shared machine
        "seed": profile.seed,
        "deterministic": True,
        "verbose": -1,
    }
    dataset = lightgbm.Dataset(meta, label=labels, free_raw_data=False)
    return lightgbm.train(params, dataset, num_boost_round=profile.lgbm_rounds)


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
    """Train every path that has models and rows; write its files into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    candidates = {
        "full": (text_models + image_models, has_text & has_image, bool(text_models and image_models)),
        "text": (text_models, has_text, bool(text_models)),
        "image": (image_models, has_image, bool(image_models)),
    }
    files: dict[str, str] = {}
    paths: dict[str, list[str]] = {}
    rows_used: dict[str, int] = {}
    for name, (models, mask, possible) in candidates.items():
        if not possible or mask.sum() < 4:
            continue
        features = stack_logits(models, {m: logits[m][mask] for m in models})
        y = labels[mask]
        oof = cross_fit_booster(features, y, n_labels, profile)
        booster = train_booster(features, y, n_labels, profile, profile.seed)
        np.savez(out_dir / f"booster_{name}.npz", **booster)  # type: ignore[arg-type]
        lgbm = train_lgbm(np.concatenate([features, oof], axis=1), y, n_labels, profile)
        lgbm.save_model(str(out_dir / f"lgbm_{name}.txt"))  # type: ignore[attr-defined]
        files[f"booster_{name}"] = f"booster_{name}.npz"
        files[f"lgbm_{name}"] = f"lgbm_{name}.txt"
        paths[name] = models
        rows_used[name] = int(mask.sum())
        log.info("fusion path trained", extra={"path": name, "rows": int(mask.sum())})
    params = {
        "paths": paths,
        "rows": rows_used,
        "booster_hidden": profile.booster_hidden,
        "booster_epochs": profile.booster_epochs,
        "lgbm_rounds": profile.lgbm_rounds,
        "trained_on": "held-out fusion slice (logits of models that never saw those rows)",
    }
    return FusionSpec(directory=directory, files=files, params=params)
