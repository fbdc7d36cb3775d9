"""How far text alone can go on the synthetic catalog: the TF-IDF + SVM baseline's learning curve.

Why: the training report compares the served text path with a same-run TF-IDF + LinearSVC
baseline. On the synthetic catalog 12% of titles are made only of words shared by a confusable
group (only the photo settles them) and 3% of labels are a neighbour's, so text-only models
meet a ceiling. This measures the baseline trained on ever larger text-only catalogs (the
generator's own text and label draws, no photos) on one fixed test catalog, overall and on the
ambiguous / clean / noisy-label offers: the gap between the 6,000-offer figure and the largest
one bounds what any text model can gain over the baseline at 6,000 offers.

``python -m services.bench.text_ceiling --sizes 5000,20000,60000 --out docs/benchmarks/text-ceiling.json``
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.ml.text import clean_offer_text
from training.synth.config import SynthConfig
from training.synth.generator import _plan, allocate_classes
from training.synth.text import make_offer_text


@dataclass(frozen=True)
class TextOffers:
    texts: list[str]
    labels: np.ndarray
    ambiguous: np.ndarray
    noisy: np.ndarray


def text_offers(n: int, seed: int, config: SynthConfig = SynthConfig()) -> TextOffers:
    """The texts and labels ``catalog synth --n N --seed S`` would write (duplicate-title reuse
    aside), with which offers are ambiguous or carry a neighbour's label."""
    texts, labels, ambiguous, noisy = [], [], [], []
    for i, code in enumerate(allocate_classes(n, seed)):
        rng = random.Random(seed * 1_000_003 + i)
        plan = _plan(code, rng, config)
        offer = make_offer_text(rng, code, plan.lang, plan.ambiguous, plan.with_description, config)
        texts.append(clean_offer_text(offer.title, offer.description).text)
        labels.append(plan.label)
        ambiguous.append(plan.ambiguous)
        noisy.append(plan.label != plan.code)
    return TextOffers(texts, np.array(labels), np.array(ambiguous), np.array(noisy))


def baseline_curve(sizes: list[int], test_n: int = 4000, test_seed: int = 777) -> dict[str, object]:
    """Baseline trained on ``sizes`` offers (seed 1), scored on one test catalog (``test_seed``)."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import f1_score
    from sklearn.svm import LinearSVC

    test = text_offers(test_n, test_seed)
    clean = ~test.ambiguous & ~test.noisy
    points = []
    for n in sizes:
        started = time.monotonic()
        train = text_offers(n, 1)
        words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=200_000)
        chars = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, max_features=300_000
        )
        x_train = hstack([words.fit_transform(train.texts), chars.fit_transform(train.texts)]).tocsr()
        x_test = hstack([words.transform(test.texts), chars.transform(test.texts)]).tocsr()
        predicted = LinearSVC(C=0.5, random_state=0).fit(x_train, train.labels).predict(x_test)
        right = predicted == test.labels
        points.append(
            {
                "train_offers": n,
                "weighted_f1": round(float(f1_score(test.labels, predicted, average="weighted")), 4),
                "accuracy": round(float(right.mean()), 4),
                "accuracy_ambiguous_titles": round(float(right[test.ambiguous].mean()), 4),
                "accuracy_clean": round(float(right[clean].mean()), 4),
                "accuracy_noisy_labels": round(float(right[test.noisy].mean()), 4),
                "seconds": round(time.monotonic() - started, 1),
            }
        )
    return {
        "baseline": "tfidf word 1-2 + char_wb 2-5, LinearSVC(C=0.5) (training.baseline)",
        "test_offers": test_n,
        "test_seed": test_seed,
        "share_ambiguous_titles": round(float(test.ambiguous.mean()), 4),
        "share_noisy_labels": round(float(test.noisy.mean()), 4),
        "points": points,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="5000,20000,60000", help="training sizes, comma-separated")
    parser.add_argument("--test-n", type=int, default=4000, help="offers in the test catalog")
    parser.add_argument("--out", type=Path, help="write the JSON here (printed either way)")
    args = parser.parse_args()
    result = baseline_curve([int(s) for s in args.sizes.split(",")], args.test_n)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", "utf-8")


if __name__ == "__main__":
    main()
