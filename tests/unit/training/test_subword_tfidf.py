"""The subword model is a TF-IDF linear model fitted by LinearSVC itself: its features are
scikit-learn's sublinear TF-IDF of words beside that of characters, its table is liblinear's
solution on exactly those features, it scores with (synthetic) or above (real Debian text) the
same-rows TF-IDF + SVM baseline, and its calibrated scores are probabilities.

Why: the subword model fitted by Adam with early stopping, over 2^18 buckets in one block capped
at 2,048 ids, trailed the baseline by 0.03 on a real multilingual catalog (and by 0.05-0.08 on
the Debian excerpt below, where these tests now show it ahead); the synthetic catalog hid it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from services.bench.text_ceiling import text_offers
from shared.ml.fusion import softmax
from shared.ml.model_repo import TextModelSpec
from shared.ml.preprocess import TextTokenizer
from tests.support.real_text import debian_catalog
from training import subword_model, text_model
from training.baseline import tfidf_svm_baseline
from training.data import load_catalog
from training.loop import squared_hinge
from training.profiles import PROFILES


def _spec() -> TextModelSpec:
    profile = PROFILES["default"]
    return TextModelSpec(
        name="text_subword", base="subword", triton_version=1, tokenizer_dir=".",
        max_length=profile.subword_max_features, subword=subword_model.subword_spec(profile),
    )  # fmt: skip


def _encoded(tmp_path: Path, texts: list[str]) -> text_model.EncodedTexts:
    return text_model.EncodedTexts(TextTokenizer(tmp_path, _spec()), texts)


def test_features_are_scikit_learns_sublinear_tfidf_of_words_beside_characters(tmp_path: Path) -> None:
    """Scores of a model whose table is the identity are the concatenation of two TF-IDF
    vectors scikit-learn computes from the same ids (smoothed IDF, sublinear TF, L2 each): the
    word block (words, word bigrams) and the character block."""
    texts = ["poupée en bois poupée", "robot jouet robot robot", "livre de poche", "poupée robot livre", ""]
    encoded = _encoded(tmp_path, texts)
    assert max(c.max() for c in encoded.counts if len(c)) == 4  # "t>": robot x3, jouet; one id
    used = np.unique(np.concatenate(encoded.ids))
    split = PROFILES["default"].subword_word_buckets
    model = subword_model.build_subword_model(PROFILES["default"], len(used))
    model.fit_idf(encoded.ids)
    with torch.no_grad():
        model.table.weight.zero_()
        model.table.weight[torch.from_numpy(used), torch.arange(len(used))] = 1.0
    got = text_model.logits_of(model, encoded, np.arange(len(texts)))

    counts = sp.lil_matrix((len(texts), len(used)))
    for row, (ids, n) in enumerate(zip(encoded.ids, encoded.counts, strict=True)):
        counts[row, np.searchsorted(used, ids)] = n
    counts = counts.tocsr()
    words = used < split
    assert words.any() and not words.all()
    expected = np.zeros(counts.shape)
    for block in (words, ~words):
        expected[:, block] = TfidfTransformer(sublinear_tf=True).fit_transform(counts[:, block]).toarray()
    assert not got[-1].any()  # the empty text scores its bias: 0
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_the_table_is_linearsvcs_solution_on_the_model_features(tmp_path: Path) -> None:
    """fit_exact copies liblinear's weights: the model's scores are LinearSVC's decision
    function on the model's own feature matrix, class by class, even for a class the rows lack."""
    offers = text_offers(300, 5)
    classes, y = np.unique(offers.labels, return_inverse=True)
    encoded = _encoded(tmp_path, offers.texts)
    rows = np.arange(250)
    model = subword_model.build_subword_model(PROFILES["default"], len(classes) + 1)
    subword_model.fit_exact(model, encoded, rows, y[rows], 0.5, min_df=2)
    matrix = subword_model.feature_matrix(model, encoded, np.arange(len(y)))
    svm = LinearSVC(C=0.5, random_state=0, max_iter=5000).fit(matrix[rows], y[rows])
    got = text_model.logits_of(model, encoded, np.arange(len(y)))
    np.testing.assert_allclose(got[:, : len(classes)], svm.decision_function(matrix), atol=1e-4)
    assert (got[:, -1] == -1.0).all()  # no row of that class: every row is its negative
    ignored = model.idf == 0.0  # min_df: buckets one training row has
    assert ignored.any() and not model.table.weight[ignored].any()


def test_squared_hinge_is_linearsvcs_one_vs_rest_loss() -> None:
    logits = torch.tensor([[2.0, -0.5, 0.3], [0.0, 0.0, 0.0]])
    labels = torch.tensor([0, 2])
    # row 0: class 0 margin 2 (no loss), class 1 -(-0.5)=0.5 -> (1-0.5)^2, class 2 -0.3 -> (1.3)^2
    # row 1: every class at 0 -> 3 * 1
    expected = ((0.5**2 + 1.3**2) + 3.0) / 2
    assert float(squared_hinge(logits, labels)) == pytest.approx(expected, rel=1e-6)


def test_the_subword_model_scores_with_the_tfidf_svm_baseline_on_the_same_rows(tmp_path: Path) -> None:
    train, test = text_offers(1500, 1), text_offers(600, 777)
    texts = train.texts + test.texts
    labels = np.concatenate([train.labels, test.labels])
    classes, y = np.unique(labels, return_inverse=True)
    fit, val = np.arange(150, 1500), np.arange(150)
    test_rows = np.arange(1500, len(texts))

    profile = PROFILES["default"]
    encoded = _encoded(tmp_path, texts)
    model = subword_model.build_subword_model(profile, len(classes))
    subword_model.fit_exact(model, encoded, fit, y[fit], profile.subword_c, profile.subword_min_df)
    raw = text_model.logits_of(model, encoded, test_rows)
    ours = f1_score(labels[test_rows], classes[raw.argmax(1)], average="weighted")
    baseline = tfidf_svm_baseline(texts, labels, fit, test_rows)
    # Measured: 0.830 against the baseline's 0.825 on these rows (the former Adam fit: 0.824).
    assert ours >= baseline["weighted_f1"], (ours, baseline)

    # Hinge scores are not probabilities: their softmax is far too flat until calibrated on the
    # validation rows; calibrating keeps every prediction and makes confidence mean accuracy.
    accuracy = float((raw.argmax(1) == y[test_rows]).mean())
    assert softmax(raw).max(1).mean() < accuracy - 0.3
    temperature = subword_model.calibrate(model, text_model.logits_of(model, encoded, val), y[val])
    calibrated = text_model.logits_of(model, encoded, test_rows)
    assert temperature > 1.0
    assert (calibrated.argmax(1) == raw.argmax(1)).all()
    assert abs(softmax(calibrated).max(1).mean() - accuracy) < 0.08


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_on_real_debian_text_the_served_fit_is_not_below_the_baseline(tmp_path: Path, seed: int) -> None:
    """The served fit (fit_subword: exact fit, calibrated, refit on the baseline's rows) on
    real multilingual text, three splits. Measured at seeds 0/1/2: 0.672/0.665/0.661 against
    the baseline's 0.650/0.649/0.651; the former Adam fit scored 0.599/0.569/0.578 here."""
    data = debian_catalog(tmp_path)
    catalog = load_catalog(data, require_labels=True)
    classes, y = np.unique(catalog.labels, return_inverse=True)
    assert len(classes) == 20 and len(catalog) == 1500
    rows = np.arange(len(y))
    train, test = train_test_split(rows, test_size=0.25, stratify=y, random_state=seed)
    fit, val = train_test_split(train, test_size=0.1, stratify=y[train], random_state=seed)

    profile = PROFILES["default"]
    encoded = _encoded(tmp_path, catalog.texts)
    model = subword_model.build_subword_model(profile, len(classes))
    result = subword_model.fit_subword(
        model, encoded, fit, y[fit], val, y[val], profile, tmp_path / "unused", "subword"
    )
    ours = f1_score(y[test], text_model.logits_of(model, encoded, test).argmax(1), average="weighted")
    baseline = tfidf_svm_baseline(catalog.texts, y, train, test)["weighted_f1"]
    assert ours >= baseline, (ours, baseline)
    assert result.val_losses[0] > result.losses[0]  # the temperature came from held-out rows
