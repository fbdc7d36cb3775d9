"""The text-ceiling study reads the generator's own draws (services/bench/text_ceiling.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from services.bench.text_ceiling import baseline_curve, text_offers
from shared.ml.text import clean_offer_text
from training.synth.generator import X_NAME, Y_NAME, generate_catalog


def test_text_offers_are_the_catalogs_texts_and_labels(tmp_path: Path) -> None:
    summary = generate_catalog(tmp_path, 60, seed=4)
    x = pd.read_csv(tmp_path / X_NAME, index_col=0, keep_default_na=False)
    y = pd.read_csv(tmp_path / Y_NAME, index_col=0)
    offers = text_offers(60, 4)
    written = [clean_offer_text(t, d).text for t, d in zip(x["designation"], x["description"], strict=True)]
    reused = summary.duplicate_titles  # a reused title is the one draw the study leaves out
    assert sum(a != b for a, b in zip(offers.texts, written, strict=True)) <= reused
    assert list(offers.labels) == list(y["prdtypecode"])
    assert int(offers.ambiguous.sum()) == summary.ambiguous_texts
    assert int(offers.noisy.sum()) == summary.noisy_labels


def test_baseline_curve_reports_each_size_and_slice() -> None:
    result = baseline_curve([400], test_n=300)
    (point,) = result["points"]  # type: ignore[misc]
    assert point["train_offers"] == 400
    assert 0.2 < point["weighted_f1"] <= 1.0
    assert point["accuracy_clean"] > point["accuracy_ambiguous_titles"]
