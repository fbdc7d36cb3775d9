"""The generated catalog: challenge layout, determinism, class shares, language and defect mix."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from shared.categories import reference_categories
from training.synth import SynthConfig, SynthSummary, generate_catalog
from training.synth.generator import IMAGE_SUBDIR, X_NAME, Y_NAME, _plan, allocate_classes, image_path

N = 160
# Higher defect rates than the defaults so that a small catalog shows every kind of defect.
DEFECTS = SynthConfig(missing_image_rate=0.04, corrupt_image_rate=0.04)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> SynthSummary:
    return generate_catalog(tmp_path_factory.mktemp("synth"), N, seed=11, config=DEFECTS)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout_and_csv_format_match_the_challenge(catalog: SynthSummary) -> None:
    out = catalog.out
    assert (out / X_NAME).read_text("utf-8").splitlines()[0] == ",designation,description,productid,imageid"
    assert (out / Y_NAME).read_text("utf-8").splitlines()[0] == ",prdtypecode"
    x = pd.read_csv(out / X_NAME, index_col=0)
    y = pd.read_csv(out / Y_NAME, index_col=0)
    assert list(x.columns) == ["designation", "description", "productid", "imageid"]
    assert list(x.index) == list(range(N)) == list(y.index)
    assert x.productid.is_unique and x.imageid.is_unique
    assert set(y.prdtypecode) <= {c.prdtypecode for c in reference_categories()}
    files = {p.name for p in (out / IMAGE_SUBDIR).iterdir()}
    expected = {f"image_{i}_product_{p}.jpg" for i, p in zip(x.imageid, x.productid, strict=True)}
    assert files <= expected
    assert len(expected - files) == catalog.missing_images


def test_images_are_500px_jpegs_with_some_missing_and_corrupt(catalog: SynthSummary) -> None:
    x = pd.read_csv(catalog.out / X_NAME, index_col=0)
    ok = corrupt = missing = 0
    for imageid, productid in zip(x.imageid, x.productid, strict=True):
        path = image_path(catalog.out, imageid, productid)
        if not path.exists():
            missing += 1
            continue
        try:
            with Image.open(path) as img:
                img.load()
                assert img.format == "JPEG" and img.size == (500, 500)
            ok += 1
        except OSError:
            corrupt += 1
    assert missing == catalog.missing_images > 0
    assert corrupt == catalog.corrupt_images > 0
    assert ok > 0.8 * N


def test_same_seed_same_bytes_other_seed_other_catalog(tmp_path: Path) -> None:
    generate_catalog(tmp_path / "a", 30, seed=5)
    generate_catalog(tmp_path / "b", 30, seed=5)
    generate_catalog(tmp_path / "c", 30, seed=6)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert (tmp_path / "a" / X_NAME).read_bytes() != (tmp_path / "c" / X_NAME).read_bytes()


def test_class_shares_follow_the_real_counts() -> None:
    cats = reference_categories()
    total = sum(c.train_count for c in cats)
    counts = Counter(allocate_classes(6000, seed=0))
    assert set(counts) == {c.prdtypecode for c in cats}
    for c in cats:
        assert abs(counts[c.prdtypecode] - 6000 * c.train_count / total) <= 1
    assert len(set(allocate_classes(200, seed=0))) == 27  # even small catalogs have every class


def test_plans_mix_languages_descriptions_and_defects_at_the_configured_rates() -> None:
    cfg = SynthConfig()
    plans = [_plan(10, random.Random(i), cfg) for i in range(20000)]
    langs = Counter(p.lang for p in plans)
    assert 0.70 < langs["fr"] / len(plans) < 0.80
    assert {"en", "de", "it", "es"} <= set(langs)
    no_desc = sum(not p.with_description for p in plans) / len(plans)
    assert abs(no_desc - cfg.missing_description_rate) < 0.02
    assert not any(p.ambiguous and (p.uninformative or p.confused) for p in plans)
    assert sum(p.image_state == "corrupt" for p in plans) > 0
    assert sum(p.label != p.code for p in plans) / len(plans) == pytest.approx(cfg.label_noise, abs=0.01)


def test_catalog_text_mix(catalog: SynthSummary) -> None:
    x = pd.read_csv(catalog.out / X_NAME, index_col=0)
    no_desc = x.description.isna().mean()
    assert 0.25 < no_desc < 0.45
    assert no_desc == pytest.approx(catalog.missing_descriptions / N)
    assert x.description.dropna().str.contains("<p>|<br />|<li>", regex=True).mean() > 0.8
    assert sum(catalog.language_counts.values()) == N and catalog.language_counts["fr"] > 0.6 * N
    assert x.designation.str.len().max() <= 250 and x.designation.notna().all()
