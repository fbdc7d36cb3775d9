"""Splitting long text under a provider's length limit, on sentence boundaries where possible."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?;…])\s+")


def _split_long(piece: str, max_chars: int) -> list[str]:
    """A sentence longer than the limit: cut on white space, then hard-cut a giant word."""
    out: list[str] = []
    current = ""
    for word in piece.split(" "):
        while len(word) > max_chars:
            if current:
                out.append(current)
                current = ""
            out.append(word[:max_chars])
            word = word[max_chars:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= max_chars:
            current = candidate
        else:
            out.append(current)
            current = word
    if current:
        out.append(current)
    return out


def chunk_text(text: str, max_chars: int) -> list[str]:
    """Chunks of at most ``max_chars`` characters that join back (with spaces) into ``text``.

    Sentences are packed greedily so that a provider sees as few calls and as much context as
    possible; only a sentence longer than the limit is cut inside.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    text = text.strip()
    if not text:
        return []
    if len(text) <= max_chars:
        return [text]
    chunks: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        if not sentence:
            continue
        pieces = [sentence] if len(sentence) <= max_chars else _split_long(sentence, max_chars)
        for piece in pieces:
            candidate = f"{current} {piece}" if current else piece
            if len(candidate) <= max_chars:
                current = candidate
            else:
                if current:
                    chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks
