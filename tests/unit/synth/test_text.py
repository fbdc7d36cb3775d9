"""Titles and descriptions: realistic shapes (length caps, HTML, entities, languages)."""

from __future__ import annotations

import random

from shared.categories import reference_categories
from shared.ml.text import strip_html
from training.synth.config import SynthConfig
from training.synth.lexicon import CATEGORY_WORDS, GROUP_OF, LANGS, NEIGHBOURS
from training.synth.text import make_description, make_offer_text, make_title


def test_every_category_has_words_neighbours_and_a_group_in_every_language() -> None:
    codes = {c.prdtypecode for c in reference_categories()}
    assert set(CATEGORY_WORDS) == codes == set(NEIGHBOURS) == set(GROUP_OF)
    for code in codes:
        assert set(CATEGORY_WORDS[code]) == set(LANGS)
        assert all(n in codes and n != code for n in NEIGHBOURS[code])


def test_titles_are_capped_and_non_empty() -> None:
    rng = random.Random(1)
    cfg = SynthConfig()
    for code in GROUP_OF:
        for lang in LANGS:
            title = make_title(rng, code, lang, ambiguous=rng.random() < 0.5, cfg=cfg)
            assert 0 < len(title) <= 250


def test_ambiguous_titles_use_no_category_specific_noun() -> None:
    rng = random.Random(2)
    cfg = SynthConfig(vocab_overlap=0.0)
    nouns = set(CATEGORY_WORDS[2905]["fr"][0].split("|"))
    titles = [make_title(rng, 2905, "fr", ambiguous=True, cfg=cfg).lower() for _ in range(200)]
    assert not any(noun in title for title in titles for noun in nouns)


def test_descriptions_are_html_with_entities_and_some_are_long() -> None:
    rng = random.Random(3)
    cfg = SynthConfig(long_description_rate=0.2, html_entity_rate=1.0)
    docs = [make_description(rng, 1560, "fr", False, "Titre", cfg) for _ in range(100)]
    assert all(len(d) <= cfg.max_description_chars for d in docs)
    for tag in ("<p>", "<li>", "<br />"):
        assert any(tag in d for d in docs)
    assert any("&eacute;" in d or "&amp;" in d for d in docs)
    assert max(len(d) for d in docs) > 2000
    assert all(strip_html(d) for d in docs)


def test_offer_without_description_has_empty_description() -> None:
    offer = make_offer_text(random.Random(4), 10, "en", False, with_description=False, cfg=SynthConfig())
    assert offer.description == "" and offer.title


def _texts(cfg: SynthConfig, n: int = 1500) -> list[str]:
    from shared.ml.text import clean_offer_text
    from training.synth.generator import _plan, allocate_classes

    out = []
    for i, code in enumerate(allocate_classes(n, 0)):
        rng = random.Random(i)
        plan = _plan(code, rng, cfg)
        offer = make_offer_text(rng, code, plan.lang, plan.ambiguous, plan.with_description, cfg)
        out.append(clean_offer_text(offer.title, offer.description).text)
    return out


def test_real_length_mode_has_real_offer_lengths_and_a_long_tail_vocabulary() -> None:
    """``catalog synth --text real-length``: median ~41 words, ~14% over 100 (a real
    marketplace's), and about three times the standard mode's vocabulary at 1,500 offers
    (four at 3,000), most of it rare."""
    import re
    from collections import Counter

    import numpy as np

    from training.synth.config import REAL_LENGTH

    stats = {}
    for name, cfg in (("standard", SynthConfig()), ("real", REAL_LENGTH)):
        texts = _texts(cfg)
        words = np.array([len(re.findall(r"\w+", t)) for t in texts])
        vocabulary = Counter(w for t in texts for w in re.findall(r"\w+", t.casefold()))
        rare = sum(1 for count in vocabulary.values() if count == 1) / len(vocabulary)
        stats[name] = (float(np.median(words)), float((words > 100).mean()), len(vocabulary), rare)
    median, long_share, size, rare = stats["real"]
    assert 35 <= median <= 47 and 0.10 <= long_share <= 0.18, stats
    assert size > 2.5 * stats["standard"][2] and rare > 0.4 > stats["standard"][3], stats
