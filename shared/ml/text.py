"""Text cleaning shared by training and the language worker (one function: no skew).

The seed study merged title and description (skipping a description equal to the title),
stripped HTML and kept the rest raw for transformers.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

_TAG = re.compile(r"<[^>]+>")
_BLOCK_TAG = re.compile(r"<\s*(br|/p|/div|/li|/h[1-6]|/tr)\b[^>]*>", re.IGNORECASE)
_SCRIPT = re.compile(r"<\s*(script|style)\b.*?<\s*/\s*\1\s*>", re.IGNORECASE | re.DOTALL)
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class CleanText:
    text: str
    truncated: bool


def strip_html(raw: str | None) -> str:
    """Tags removed (block tags become spaces), entities unescaped, white space folded."""
    if not raw:
        return ""
    text = _SCRIPT.sub(" ", raw)
    text = _BLOCK_TAG.sub(" ", text)
    text = _TAG.sub(" ", text)
    # Twice: sellers often double-escape (&amp;eacute;).
    text = html.unescape(html.unescape(text))
    text = text.replace("\u00a0", " ")
    return _WS.sub(" ", text).strip()


TITLE_SEPARATOR = " . "
"""Between title and description in the merged text (shared.ml.subword's title view cuts there)."""


def merge_title_description(title: str | None, description: str | None) -> str:
    """Title and description as one text; a description equal to the title is skipped."""
    clean_title = strip_html(title)
    clean_description = strip_html(description)
    if not clean_description or clean_description.casefold() == clean_title.casefold():
        return clean_title
    if not clean_title:
        return clean_description
    return f"{clean_title}{TITLE_SEPARATOR}{clean_description}"


def clean_offer_text(title: str | None, description: str | None, max_chars: int = 5000) -> CleanText:
    """The text models read: merged, cleaned, capped at ``max_chars`` on a word boundary."""
    text = merge_title_description(title, description)
    if len(text) <= max_chars:
        return CleanText(text, False)
    cut = text[:max_chars]
    space = cut.rfind(" ")
    if space > max_chars * 0.8:
        cut = cut[:space]
    return CleanText(cut.rstrip(), True)
