"""The classical text baseline every training report carries: TF-IDF + linear SVM.

Why: on real multilingual offers a TF-IDF (word 1-2 + char 2-5 grams) + LinearSVC beat the
served text models; measuring it in the same run, on the same training and held-out rows, tells
whether the served text path earns its cost. scikit-learn only; never served.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def tfidf_svm_baseline(
    texts: list[str], labels: np.ndarray, train_rows: np.ndarray, test_rows: np.ndarray
) -> dict[str, Any]:
    """Weighted F1 (and friends) of TF-IDF + LinearSVC trained on ``train_rows``, scored on the
    ``test_rows`` that have text (the rows the text path is scored on)."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.svm import LinearSVC

    started = time.monotonic()
    train = np.array([i for i in train_rows if texts[i]], dtype=np.int64)
    test = np.array([i for i in test_rows if texts[i]], dtype=np.int64)
    if len(train) == 0 or len(test) == 0 or len(np.unique(labels[train])) < 2:
        return {"n": len(test), "note": "not enough text rows"}
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=200_000)
    chars = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, max_features=300_000
    )
    train_texts = [texts[i] for i in train]
    test_texts = [texts[i] for i in test]
    x_train = hstack([words.fit_transform(train_texts), chars.fit_transform(train_texts)]).tocsr()
    x_test = hstack([words.transform(test_texts), chars.transform(test_texts)]).tocsr()
    model = LinearSVC(C=0.5, random_state=0).fit(x_train, labels[train])
    predicted = model.predict(x_test)
    return {
        "model": "tfidf word 1-2 + char_wb 2-5, LinearSVC(C=0.5)",
        "n": len(test),
        "trained_on": len(train),
        "weighted_f1": round(
            float(f1_score(labels[test], predicted, average="weighted", zero_division=0)), 4
        ),
        "macro_f1": round(float(f1_score(labels[test], predicted, average="macro", zero_division=0)), 4),
        "accuracy": round(float(accuracy_score(labels[test], predicted)), 4),
        "seconds": round(time.monotonic() - started, 1),
    }
