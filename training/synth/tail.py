"""The long tail of a real catalog's vocabulary, for real-length offers (``SynthConfig.real_length``).

Why: the default generator draws every word from a closed list of a few thousand words, so a
3,000-offer catalog has ~2,500 distinct words where real offers of the same count have tens of
thousands, half of them seen once (model names, product lines, a seller's own words). A
classical model that memorises words looks as good as one that generalises from character
n-grams on the closed list, and a featurizer whose hash buckets or id cap hurt on a real
vocabulary passes every synthetic benchmark. Here each category gets its own Zipf-distributed
vocabulary of pseudo-words (a few frequent, most rare: learnable and unseen words side by side),
and all categories share a larger Zipf pool of filler words that says nothing about the class.

Pseudo-words are built from each language's syllables by a hash of (pool, rank): the same word
for the same rank in every run and process, so a catalog stays byte-identical per seed.
"""

from __future__ import annotations

import bisect
import random
import zlib
from functools import cache
from itertools import accumulate

from training.synth.config import SynthConfig
from training.synth.lexicon import NEIGHBOURS

_SYLLABLES: dict[str, tuple[str, ...]] = {
    "fr": ("ba", "ché", "con", "de", "eau", "fi", "gre", "la", "lou", "mé", "mon", "na", "oir", "pa",
           "qui", "ré", "ron", "sa", "tel", "teur", "va", "vin", "tion", "ette", "bri", "cla", "dor"),
    "en": ("ban", "ber", "co", "dex", "er", "fly", "gan", "ing", "ka", "lin", "max", "mo", "nor", "ox",
           "pro", "ray", "sen", "ster", "ta", "tron", "vo", "wood", "ly", "quick", "bolt", "ham"),
    "de": ("ach", "berg", "chen", "dorf", "ein", "feld", "gut", "haus", "ing", "kraft", "lich", "mann",
           "ner", "ob", "schaft", "stein", "tal", "ung", "wald", "zeug", "bau", "lein", "rad"),
    "it": ("bel", "ca", "del", "ella", "fio", "gia", "ino", "la", "lu", "mar", "no", "pic", "ri", "sa",
           "tto", "va", "zio", "bra", "cco", "one", "etta", "gno"),
    "es": ("al", "ba", "ción", "do", "es", "fue", "go", "ja", "lla", "ma", "ño", "pe", "que", "ra",
           "ro", "sa", "te", "to", "ur", "va", "za", "ito", "ero"),
}  # fmt: skip


@cache
def _cumulative(size: int, exponent: float) -> tuple[float, ...]:
    return tuple(accumulate(1.0 / (rank**exponent) for rank in range(1, size + 1)))


def zipf_rank(rng: random.Random, size: int, exponent: float) -> int:
    """A rank in [0, size) drawn with probability proportional to ``1 / (rank + 1) ** exponent``."""
    weights = _cumulative(size, exponent)
    return min(size - 1, bisect.bisect_left(weights, rng.random() * weights[-1]))


@cache
def pseudo_word(lang: str, pool: str, rank: int) -> str:
    """The ``rank``-th word of ``pool`` in ``lang``: 2-4 of the language's syllables, sometimes a
    model number (``tronox-340``), as real product lines are named."""
    state = zlib.crc32(f"{lang}|{pool}|{rank}".encode())
    syllables = _SYLLABLES[lang]
    count = 2 + state % 3
    parts = []
    for _ in range(count):
        state = zlib.crc32(state.to_bytes(4, "little"))
        parts.append(syllables[state % len(syllables)])
    word = "".join(parts)
    if state % 7 == 0:
        word += f"-{state % 997}"
    return word


def category_word(rng: random.Random, code: int, lang: str, cfg: SynthConfig) -> str:
    """A word of ``code``'s long tail (a neighbour's at ``cfg.vocab_overlap``)."""
    source = rng.choice(NEIGHBOURS[code]) if rng.random() < cfg.vocab_overlap else code
    return pseudo_word(lang, f"c{source}", zipf_rank(rng, cfg.tail_vocabulary, cfg.tail_exponent))


def filler_word(rng: random.Random, lang: str, cfg: SynthConfig) -> str:
    """A word of the pool every category shares: vocabulary that tells nothing about the class."""
    return pseudo_word(lang, "shared", zipf_rank(rng, cfg.filler_vocabulary, cfg.tail_exponent))
