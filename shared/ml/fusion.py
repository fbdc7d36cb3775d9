"""The fusion meta-model at inference time: booster MLP (numpy) then LightGBM (docs/architecture.md §4).

Files of one revision (``fusion/<revision>/``), named in ``manifest.fusion.files``:

- ``booster_<path>.npz``: standardisation (``mean``, ``std``) and the MLP (``w1, b1, w2, b2``);
- ``lgbm_<path>.txt``: a LightGBM multiclass model over ``[logits, booster probabilities]``;
- ``combiner_<path>.npz`` (instead of both, for many classes: training.fusion_train): one weight
  per model (``model_weights``) shared by every class, and a ``bias`` per class:
  ``softmax(sum_m w_m * logits_m + bias)``. Its cost grows with the classes, not their square.

``params.blend.<path>.meta == "pool"`` (optional): the path serves, instead of the booster and
LightGBM, the pool ``softmax(sum_m w_m * log softmax(logits_m))`` of its models with the weights
``params.blend.<path>.pool`` (training chose it where it scored better out of fold).

``<path>`` is ``full`` (every text and image model), ``text`` (text models only) or ``image``
(image models only): an offer missing one modality uses the path of the other, trained for it.

``params.blend.<path>`` (optional) = ``{"model", "weight_meta"}``: the path serves
``weight_meta * meta + (1 - weight_meta) * softmax(logits of model)``; training chose the weight
by cross-validation, so a path never serves a meta-model that scored below its best input.

``params.calibration.<path>.temperature`` (optional, default 1) and ``.top_label`` (optional
``{"slope", "bias"}``, default identity): the served probabilities are ``softmax(log(p) / T)`` of
the blend, then the top class's probability ``c`` becomes ``sigmoid(slope * logit(c) + bias)``
(shared.ml.selective), fitted on held-out rows (training.calibration).
Every caller (the fusion worker whatever the inference backend, the API's synchronous route,
`catalog evaluate`) gets its probabilities here, so all apply the same calibration.
No torch here: the fusion worker stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from shared.ml.model_repo import Manifest
from shared.ml.selective import apply_calibration

PATHS = ("full", "text", "image")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def class_prior(manifest: Manifest) -> np.ndarray:
    """Training class frequencies in logit order: the answer for an offer with no usable input."""
    counts = manifest.training.get("class_counts", {})
    prior = np.array([float(counts.get(str(code), 1.0)) for code in manifest.codes]) + 1e-3
    return np.asarray(prior / prior.sum())


def path_for(has_text: bool, has_image: bool) -> str:
    if has_text and has_image:
        return "full"
    if has_text:
        return "text"
    if has_image:
        return "image"
    raise ValueError("Fusion needs at least one modality (text or image logits).")


def booster_forward(weights: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    """Booster class probabilities: standardise, one hidden ReLU layer, softmax."""
    z = (features - weights["mean"]) / weights["std"]
    hidden = np.maximum(z @ weights["w1"] + weights["b1"], 0.0)
    return softmax(hidden @ weights["w2"] + weights["b2"])


def pool_forward(weights: dict[str, float], logits: dict[str, np.ndarray]) -> np.ndarray:
    """Class probabilities of a weighted geometric mean of the models' softmaxes."""
    total = sum(
        w * np.log(softmax(np.asarray(logits[m], dtype=np.float64)) + 1e-12)
        for m, w in weights.items()
        if w > 0
    )
    return softmax(np.asarray(total, dtype=np.float64))


def combiner_forward(weights: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    """Combiner class probabilities over stacked logits (models in order, each ``n_labels`` wide)."""
    model_weights = weights["model_weights"]
    per_model = features.reshape(len(features), len(model_weights), -1)
    return softmax(np.einsum("bml,m->bl", per_model, model_weights) + weights["bias"])


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def stack_logits(names: list[str], logits: dict[str, np.ndarray]) -> np.ndarray:
    """Concatenate the logits of ``names`` in that order (the order fusion was trained on)."""
    missing = [name for name in names if name not in logits]
    if missing:
        raise KeyError(f"Fusion needs logits of {missing}; got {sorted(logits)}")
    return np.concatenate([np.asarray(logits[name], dtype=np.float64) for name in names], axis=1)


def _top_label(calibration: dict[str, Any]) -> tuple[float, float]:
    """(slope, bias) of a path's top-label scaling; identity for revisions trained before it."""
    fitted = calibration.get("top_label") or {}
    return float(fitted.get("slope", 1.0)), float(fitted.get("bias", 0.0))


@dataclass
class _Path:
    models: list[str]
    booster: dict[str, np.ndarray]
    lgbm: Any | None
    blend_model: str | None = None
    weight_meta: float = 1.0
    temperature: float = 1.0
    pool: dict[str, float] | None = None
    top_label: tuple[float, float] = (1.0, 0.0)


class FusionModel:
    """Loads one revision's fusion files; turns per-model logits into class probabilities."""

    def __init__(self, n_labels: int, paths: dict[str, _Path]) -> None:
        self.n_labels = n_labels
        self._paths = paths

    @classmethod
    def load(cls, repository: Path, manifest: Manifest) -> FusionModel:
        if manifest.fusion is None:
            raise ValueError(f"Manifest {manifest.version} has no fusion model.")
        directory = Path(repository) / manifest.fusion.directory
        files = manifest.fusion.files
        path_models: dict[str, list[str]] = manifest.fusion.params.get("paths", {})
        paths: dict[str, _Path] = {}
        for name, models in path_models.items():
            booster_file = files.get(f"booster_{name}") or files.get(f"combiner_{name}")
            if booster_file is None:
                continue
            with np.load(directory / booster_file) as npz:
                booster = {key: npz[key].astype(np.float64) for key in npz.files}
            lgbm = None
            lgbm_file = files.get(f"lgbm_{name}")
            if lgbm_file is not None:
                import lightgbm

                lgbm = lightgbm.Booster(model_file=str(directory / lgbm_file))
            blend = manifest.fusion.params.get("blend", {}).get(name) or {}
            pool = blend.get("pool") if blend.get("meta") == "pool" else None
            calibration = manifest.fusion.params.get("calibration", {}).get(name) or {}
            paths[name] = _Path(
                list(models),
                booster,
                lgbm,
                blend.get("model"),
                float(blend.get("weight_meta", 1.0)),
                float(calibration.get("temperature", 1.0)),
                {m: float(w) for m, w in pool.items()} if pool else None,
                _top_label(calibration),
            )
        if not paths:
            raise ValueError(f"Fusion of {manifest.version} has no usable path in {directory}.")
        return cls(len(manifest.labels), paths)

    @property
    def available_paths(self) -> list[str]:
        return list(self._paths)

    def predict_proba(
        self,
        text_logits: dict[str, np.ndarray] | None,
        image_logits: dict[str, np.ndarray] | None,
        calibrated: bool = True,
    ) -> np.ndarray:
        """[batch, n_labels] probabilities (rows sum to 1); None = modality missing for the batch.
        ``calibrated=False``: before temperature scaling (training measures what it gains)."""
        name = path_for(bool(text_logits), bool(image_logits))
        if name not in self._paths:
            raise ValueError(f"This fusion model has no {name!r} path (has {self.available_paths}).")
        path = self._paths[name]
        logits = {**(text_logits or {}), **(image_logits or {})}
        # One BLAS and one LightGBM thread (issue 27): on a worker's batch OpenBLAS's second
        # thread, once woken by a matmul over 2^18 multiply-adds (the default booster's), spins
        # for milliseconds after it, and LightGBM's OpenMP team costs more than its trees: both
        # burnt a core the other workers needed (16-32 rows: 8 ms of CPU, 0.3-0.7 on one thread).
        with _blas().limit(limits=1, user_api="blas"):
            probs = self._meta(path, logits)
        probs = np.clip(probs, 0.0, None)
        probs = probs / probs.sum(axis=1, keepdims=True)
        if path.blend_model is not None and path.weight_meta < 1.0:
            single = softmax(np.asarray(logits[path.blend_model], dtype=np.float64))
            probs = path.weight_meta * probs + (1.0 - path.weight_meta) * single
        return apply_calibration(probs, path.temperature, *path.top_label) if calibrated else probs

    @staticmethod
    def _meta(path: _Path, logits: dict[str, np.ndarray]) -> np.ndarray:
        """The path's meta-model probabilities, before the blend and calibration."""
        features = stack_logits(path.models, logits)
        if path.pool is not None:
            return pool_forward(path.pool, logits)
        if "model_weights" in path.booster:
            probs = combiner_forward(path.booster, features)
        else:
            probs = booster_forward(path.booster, features)
        if path.lgbm is not None:
            meta = np.concatenate([features, probs], axis=1)
            raw = path.lgbm.predict(meta, num_threads=1)
            probs = np.asarray(raw, dtype=np.float64).reshape(len(features), -1)
        return probs
