"""The language step as a training-time text preparer (shared.ml.text_preparation.TextPreparer).

Why: serving feeds the text models the French translation of non-French offers; training must
see the same text (one rule, enforced at load time by the manifest). This applies the language
worker's own functions (lid.176 detection, ``needs_translation``, TextTranslator with its Redis
cache) to a whole catalog, so a re-run reads every translation from the cache (no new calls),
and a translation that fails keeps the original text, as the worker's ``degrade`` mode does.
Built by the CLI (the composition root): training never imports services.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from shared.config import Settings
from shared.ml.text_preparation import PreparedTexts

from .detect import LanguageDetector
from .logic import needs_translation
from .translate import TextTranslator

CHUNK = 256


class LanguageStepPreparer:
    """Detect, then translate to French through the cached translator (settings' provider)."""

    def __init__(self, settings: Settings) -> None:
        if settings.translator == "none":
            raise ValueError("CATALOG_TRANSLATOR=none: nothing translates; train untranslated instead.")
        self.settings = settings

    def describe(self) -> dict[str, Any]:
        return {"translated": True, "translator": self.settings.translator, "target": "fr"}

    def prepare(self, texts: Sequence[str]) -> PreparedTexts:
        return asyncio.run(self._prepare(list(texts)))

    async def _prepare(self, texts: list[str]) -> PreparedTexts:
        from redis.asyncio import Redis

        from shared.redis_conn import resolve_redis_url

        languages = LanguageDetector(self.settings.language_min_confidence).detect_batch(texts)
        todo = [i for i, text in enumerate(texts) if needs_translation(text, languages[i])]
        redis = Redis.from_url(resolve_redis_url(self.settings))
        translator = TextTranslator(self.settings, redis)
        out = list(texts)
        counts = {"texts": len(texts), "to_translate": len(todo), "translated": 0, "cached": 0, "failed": 0}
        try:
            for start in range(0, len(todo), CHUNK):
                chunk = todo[start : start + CHUNK]
                results = await translator.translate_many([(texts[i], languages[i].code) for i in chunk])
                if start == 0 and results and all(r.status == "failed" for r in results):
                    raise ValueError(
                        f"Translation with {self.settings.translator} fails ({results[0].reason}). "
                        "Serving would not translate either: fix CATALOG_TRANSLATOR(_URL), or set "
                        "CATALOG_TRANSLATOR=none for both training and serving."
                    )
                for i, result in zip(chunk, results, strict=True):
                    out[i] = result.text
                    counts[result.status] += 1
        finally:
            translator.close()
            await redis.aclose()
        counts["calls"] = translator.calls
        return PreparedTexts(out, counts)
