"""The one-vs-rest fit split over processes is LinearSVC's solution (to the solver's tolerance),
reproducible, and used only above the profile's class count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.svm import LinearSVC

from services.bench.text_ceiling import text_offers
from shared.ml.model_repo import TextModelSpec
from shared.ml.preprocess import TextTokenizer
from training import subword_model, text_model
from training.profiles import PROFILES


def test_fit_exact_over_processes_is_linearsvcs_solution_and_reproducible(tmp_path: Path) -> None:
    profile = PROFILES["default"]
    spec = TextModelSpec(
        name="text_subword", base="subword", triton_version=1, tokenizer_dir=".",
        max_length=profile.subword_max_features, subword=subword_model.subword_spec(profile),
    )  # fmt: skip
    offers = text_offers(300, 5)
    classes, y = np.unique(offers.labels, return_inverse=True)
    encoded = text_model.EncodedTexts(TextTokenizer(tmp_path, spec), offers.texts)
    rows, everything = np.arange(250), np.arange(len(y))

    def fitted() -> np.ndarray:
        model = subword_model.build_subword_model(profile, len(classes) + 1)
        subword_model.fit_exact(model, encoded, rows, y[rows], 0.5, min_df=2, processes=2)
        return text_model.logits_of(model, encoded, everything)

    got = fitted()
    model = subword_model.build_subword_model(profile, len(classes) + 1)
    model.fit_idf([encoded.ids[i] for i in rows], 2)
    matrix = subword_model.feature_matrix(model, encoded, everything)
    svm = LinearSVC(C=0.5, random_state=0, max_iter=5000).fit(matrix[rows], y[rows])
    np.testing.assert_allclose(got[:, : len(classes)], svm.decision_function(matrix), atol=1e-3)
    assert (got[:, -1] == -1.0).all()  # a class no row has: every row is its negative
    assert np.array_equal(fitted(), got)  # processes, not threads: the same solution every time


def test_only_many_classes_split_the_fit() -> None:
    default = PROFILES["default"]
    assert subword_model.fit_processes(default, 27) == 1  # the reference: its one-call solution
    assert subword_model.fit_processes(default, 1000) == default.subword_fit_processes > 1
