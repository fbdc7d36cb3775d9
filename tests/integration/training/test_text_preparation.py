"""Training's language step: the worker's detection and cached translation, on real Redis."""

from __future__ import annotations

import pytest

from services.language.training import LanguageStepPreparer
from shared.config import Settings
from tests.conftest import REDIS_URL
from tools.standins.translator import running_standin

TEXTS = ["Brand new box never opened, complete with manual", "Livre de poche très bon état", ""]


def test_training_text_is_translated_once_then_read_from_the_cache(redis_prefix: str) -> None:
    with running_standin() as server:
        settings = Settings(
            redis_url=REDIS_URL, stream_prefix=redis_prefix, translator="google", translator_url=server.url
        )
        preparer = LanguageStepPreparer(settings)
        first = preparer.prepare(TEXTS)
        assert first.texts[0] != TEXTS[0] and "neuf" in first.texts[0]  # English -> French
        assert first.texts[1:] == TEXTS[1:]  # French and empty text are never sent
        assert first.stats["translated"] == 1 and server.state.calls == 1
        again = LanguageStepPreparer(settings).prepare(TEXTS)
        assert again.texts == first.texts and again.stats["cached"] == 1
        assert server.state.calls == 1  # a re-run costs no new calls
        assert preparer.describe()["translated"] is True


def test_a_translator_that_fails_stops_training_with_a_clear_message(redis_prefix: str) -> None:
    settings = Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        translator="google",
        translator_url="http://127.0.0.1:9",
        translation_max_retries=0,
        translation_timeout_s=1.0,
    )
    with pytest.raises(ValueError, match="CATALOG_TRANSLATOR=none"):
        LanguageStepPreparer(settings).prepare(TEXTS)
