"""Chunking under a provider's limit, on sentence boundaries."""

from __future__ import annotations

import itertools

import pytest

from services.language.chunking import chunk_text


def test_short_text_is_one_chunk() -> None:
    assert chunk_text("  Hello world.  ", 100) == ["Hello world."]
    assert chunk_text("   ", 100) == []


def test_sentences_are_packed_and_never_cut() -> None:
    sentences = [f"Sentence number {i} is here." for i in range(200)]
    text = " ".join(sentences)
    chunks = chunk_text(text, 500)
    assert len(chunks) > 1
    assert all(len(c) <= 500 for c in chunks)
    assert " ".join(chunks) == text
    for chunk in chunks:  # every chunk starts and ends on a sentence boundary
        assert chunk.startswith("Sentence number ")
        assert chunk.endswith("is here.")
    # Greedy packing: no two neighbours would have fitted together.
    assert all(len(a) + 1 + len(b) > 500 for a, b in itertools.pairwise(chunks))


def test_a_sentence_longer_than_the_limit_is_cut_on_spaces() -> None:
    text = " ".join(["word"] * 300) + ". End."
    chunks = chunk_text(text, 100)
    assert all(len(c) <= 100 for c in chunks)
    assert " ".join(chunks) == text
    assert all(not c.startswith(" ") and not c.endswith(" ") for c in chunks)


def test_a_giant_word_is_hard_cut() -> None:
    text = "start " + "x" * 250 + " end"
    chunks = chunk_text(text, 100)
    assert all(len(c) <= 100 for c in chunks)
    assert "".join(chunks).replace(" ", "") == text.replace(" ", "")


@pytest.mark.parametrize("limit", [499, 4999])
def test_provider_limits(limit: int) -> None:
    text = "Une phrase française assez longue pour le test ! " * 400
    chunks = chunk_text(text, limit)
    assert all(len(c) <= limit for c in chunks)
    assert " ".join(chunks) == text.strip()


def test_invalid_limit() -> None:
    with pytest.raises(ValueError):
        chunk_text("abc", 0)
