"""fastText-style features of a text: hashed words, word n-grams and character n-grams of words.

Why: the offline pretrained transformer is English and its word-piece vocabulary splits French,
German or Spanish words into meaningless pieces; character n-grams of whole words
(``<chaussure>`` -> ``<ch``, ``cha``, ... ``ure>``) share evidence between inflections, compounds
and languages, with no vocabulary to ship. Hashing into a fixed number of buckets keeps the
model a plain embedding table (exported to ONNX like any text model).

Training and every serving path (local ONNX Runtime and Triton) featurize through this one
function (via shared.ml.preprocess.TextTokenizer), so the ids a model saw in training are the ids it
gets in production. ``zlib.crc32`` is the hash: stable across processes and Python versions.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from shared.ml.text import TITLE_SEPARATOR

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORD_CHARS = 40
"""Longer "words" are hashes, URLs or serial numbers: their n-grams only add noise and cost."""


class SubwordSpec(BaseModel):
    """How texts become bucket ids (recorded in the manifest; serving reads it from there)."""

    buckets: int = Field(2**20, description="Hash buckets shared by all feature kinds.")
    min_n: int = Field(2, description="Shortest character n-gram of a word (with < > marks).")
    max_n: int = Field(5, description="Longest character n-gram of a word.")
    word_ngrams: int = Field(2, description="1: words only; 2: words and word bigrams; ...")
    max_features: int = Field(2048, description="Ids per text (truncation, in text order).")
    word_buckets: int = Field(
        0,
        description="0: one block of buckets, one L2 norm (models trained before blocks). "
        "Otherwise words and word n-grams hash into [1, word_buckets), character n-grams into "
        "[word_buckets, buckets), and the model normalises each block on its own, as a TF-IDF "
        "of words beside a TF-IDF of characters (what closed the gap to TF-IDF + LinearSVC).",
    )
    counts: bool = Field(
        False,
        description="True: each distinct id once (first-seen order) with its count in "
        "attention_mask, which the model weighs 1 + ln(count) (sublinear TF); False: one id per "
        "occurrence, mask 1 (models trained before counts).",
    )
    view: Literal["offer", "title"] = Field(
        "offer",
        description="offer: the whole merged text; title: only the title, the text before the "
        "first title separator of shared.ml.text (the whole text when there is none), where a "
        "brand or product word is not diluted by a long description.",
    )
    words: bool = Field(True, description="False: no word and word n-gram ids (a character-only view).")


def normalise(text: str) -> str:
    """NFKC + casefold: "ÉTÉ", "été" and "e\u0301te\u0301" give the same features."""
    return unicodedata.normalize("NFKC", text).casefold()


def _hash(kind: str, token: str, low: int, high: int) -> int:
    """An id in [low, high) (ids start at 1: 0 is padding)."""
    return low + zlib.crc32(f"{kind}{token}".encode()) % (high - low)


def _ranges(spec: SubwordSpec) -> tuple[tuple[int, int], tuple[int, int]]:
    """Id ranges of (words and word n-grams, character n-grams)."""
    if spec.word_buckets <= 0:
        return (1, spec.buckets), (1, spec.buckets)
    return (1, spec.word_buckets), (spec.word_buckets, spec.buckets)


def text_ids(text: str, spec: SubwordSpec) -> list[int]:
    """Bucket ids of one text: per word its id and char n-grams, then its word n-grams."""
    if spec.view == "title":
        text = text.split(TITLE_SEPARATOR, 1)[0]
    words = [w[:MAX_WORD_CHARS] for w in _WORD.findall(normalise(text))]
    ids: list[int] = []
    limit = spec.max_features
    (w_low, w_high), (c_low, c_high) = _ranges(spec)
    for position, word in enumerate(words):
        if spec.words:
            ids.append(_hash("w", word, w_low, w_high))
        marked = f"<{word}>"
        for n in range(spec.min_n, spec.max_n + 1):
            if n >= len(marked):
                break
            ids.extend(_hash("c", marked[i : i + n], c_low, c_high) for i in range(len(marked) - n + 1))
        for n in range(2, spec.word_ngrams + 1 if spec.words else 2):
            if position + 1 >= n:
                ids.append(_hash(f"g{n}", " ".join(words[position + 1 - n : position + 1]), w_low, w_high))
        if len(ids) >= limit:
            return ids[:limit]
    return ids


def encode_batch(texts: Sequence[str], spec: SubwordSpec) -> dict[str, np.ndarray]:
    """``input_ids`` and ``attention_mask``, int64 [batch, longest] (at least one column); with
    ``spec.counts`` the mask holds each id's count (0 still marks padding)."""
    rows = [text_ids(text or "", spec) for text in texts]
    if spec.counts:
        counted = [Counter(row) for row in rows]  # insertion order: first occurrence
        rows, weights = [list(c) for c in counted], [list(c.values()) for c in counted]
    else:
        weights = [[1] * len(row) for row in rows]
    width = max([1, *(len(r) for r in rows)])
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, (row, weight) in enumerate(zip(rows, weights, strict=True)):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = weight
    return {"input_ids": ids, "attention_mask": mask}
