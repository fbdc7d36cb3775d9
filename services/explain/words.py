"""Words of a text and the text without one of them (word-level occlusion, tokenizer-agnostic)."""

from __future__ import annotations

import re

# A word: a run of letters or digits (any script); apostrophes and hyphens split words.
_WORD = re.compile(r"[^\W_]+")


def distinct_words(text: str, limit: int) -> tuple[list[str], bool]:
    """Lower-cased distinct words in first-seen order (at most ``limit``), and whether some were left."""
    seen: dict[str, None] = {}
    for match in _WORD.finditer(text):
        seen.setdefault(match.group(0).lower(), None)
    words = list(seen)
    return words[:limit], len(words) > limit


def without_word(text: str, word: str) -> str:
    """``text`` with every occurrence of ``word`` (case-insensitive, whole word) removed."""
    pattern = re.compile(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", re.IGNORECASE)
    return re.sub(r"\s{2,}", " ", pattern.sub("", text)).strip()
