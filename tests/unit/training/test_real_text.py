"""python -m training.real_text turns apt's indexes into a challenge-layout catalog: labels from
the Section, a translation only where it matches the current English description, packaging
sections left out, one row per distinct description, the language mix followed.

Why: a wrong join (a stale translation, a library's template text, the same description
twice) would make the real-text check measure something else than it says.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training import real_text
from training.data import load_catalog

PACKAGES = """\
Package: 0ad
Description: Real-time strategy game of ancient warfare
Description-md5: aaa
Section: games

Package: 0ad-dbg
Description: Real-time strategy game of ancient warfare
Description-md5: aaa
Section: games

Package: libfoo1
Description: foo library
Description-md5: bbb
Section: libs

Package: gimp
Description: GNU Image Manipulation Program
Description-md5: ccc
Section: contrib/graphics

Package: audacity
Description: fast, cross-platform audio editor
Description-md5: ddd
Section: sound
"""

TRANSLATIONS = {
    "en": """\
Package: 0ad
Description-md5: aaa
Description-en: Real-time strategy game of ancient warfare
 0 A.D. is a free, open-source, cross-platform real-time strategy game.
 .
 It is a historical war and economy game.

Package: libfoo1
Description-md5: bbb
Description-en: foo library
 This package contains the shared library.

Package: gimp
Description-md5: ccc
Description-en: GNU Image Manipulation Program
 GIMP is an advanced picture editor.

Package: audacity
Description-md5: ddd
Description-en: fast, cross-platform audio editor
 Audacity is a multi-track audio editor.
""",
    "fr": """\
Package: 0ad
Description-md5: aaa
Description-fr: jeu de stratégie en temps réel de guerres anciennes
 0 A.D. est un jeu de stratégie libre.

Package: gimp
Description-md5: old
Description-fr: programme de manipulation d'image GNU (ancienne description)
 Une traduction périmée.
""",
    "de": "",
    "it": "",
    "es": "",
}


def _lists(tmp_path: Path) -> Path:
    lists = tmp_path / "lists"
    lists.mkdir()
    prefix = f"deb.debian.org_debian_dists_{real_text.SUITE}_main_"
    (lists / f"{prefix}binary-amd64_Packages").write_text(PACKAGES, "utf-8")
    for language, text in TRANSLATIONS.items():
        (lists / f"{prefix}i18n_Translation-{language}").write_text(text, "utf-8")
    return lists


def test_descriptions_are_labelled_by_section_and_translations_must_be_current(tmp_path: Path) -> None:
    found = real_text.read_descriptions(_lists(tmp_path))
    assert set(found) == {"0ad", "gimp", "audacity"}  # libs left out, 0ad-dbg's text is 0ad's
    assert {d.language for d in found["0ad"]} == {"en", "fr"}
    assert [d.language for d in found["gimp"]] == ["en"]  # its French text is of an older description
    assert found["gimp"][0].section == "graphics"  # component prefix dropped
    english = next(d for d in found["0ad"] if d.language == "en")
    assert english.title == "Real-time strategy game of ancient warfare"
    assert english.body == (
        "0 A.D. is a free, open-source, cross-platform real-time strategy game.<br />"
        "It is a historical war and economy game."
    )


def test_the_catalog_follows_the_language_mix_and_loads_in_the_challenge_layout(tmp_path: Path) -> None:
    chosen = real_text.choose(real_text.read_descriptions(_lists(tmp_path)), 3, seed=0)
    assert sorted(d.package for d in chosen) == ["0ad", "audacity", "gimp"]
    assert next(d for d in chosen if d.package == "0ad").language in {"en", "fr"}
    summary = real_text.write_catalog(chosen, tmp_path / "catalog", seed=0)
    catalog = load_catalog(tmp_path / "catalog", require_labels=True)
    codes = real_text.SECTIONS
    assert len(catalog) == 3 and catalog.stats["missing_image"] == 3
    by_package = dict(zip((d.package for d in chosen), catalog.labels or [], strict=True))
    assert by_package["audacity"] == 10 * (1 + codes.index("sound"))
    assert "<br />" not in catalog.texts[[d.package for d in chosen].index("0ad")]  # HTML cleaned on load
    assert json.loads((tmp_path / "catalog" / "sources.json").read_text())["offers"] == summary["offers"] == 3


def test_the_language_furthest_below_its_share_is_taken() -> None:
    def offer(i: int, section: str) -> list[real_text.Description]:
        return [real_text.Description(f"p{i}", lang, section, "t", "b") for lang in real_text.LANGUAGES]

    sections = real_text.SECTIONS
    many = {f"p{i}": offer(i, sections[i % len(sections)]) for i in range(200)}
    chosen = real_text.choose(many, 100, seed=1)
    counts = {lang: sum(d.language == lang for d in chosen) for lang in real_text.LANGUAGES}
    assert counts == {lang: round(100 * share) for lang, share in real_text.LANGUAGES.items()}
    assert len({d.package for d in chosen}) == 100
    games = {f"p{i}": offer(i, "games") for i in range(200)}
    capped = real_text.choose(games, 100, seed=1)  # one section: at most a fifth of the catalog
    assert len(capped) == 20 and np.all([d.section == "games" for d in capped])
