"""The language worker's logic: clean, detect, translate to French (no queue here).

Used by the worker, by ``catalog prepare``, by ``catalog classify`` and by the API's
synchronous classify path, so that every path prepares text the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from shared.config import Settings
from shared.contract import Language, ListingPrepared, ListingSubmitted, Translation, utcnow
from shared.dependencies import DependencyUnavailable
from shared.logging import log_event
from shared.ml.text import CleanText, clean_offer_text

from .detect import UNKNOWN, LanguageDetector
from .translate import TextTranslator, TranslationResult

log = logging.getLogger(__name__)

FRENCH = "fr"
TRANSLATION_BUDGET_SHARE = 0.8


class TranslationUnavailable(DependencyUnavailable):
    """Translation failed and ``translation_on_failure=retry``: an outage of the translator,
    so the batch is held and retried without counting deliveries (shared/broker/outages.py)."""

    dependency = "translator"


def needs_translation(text: str, language: Language) -> bool:
    """Only confident non-French text is worth a provider call."""
    return bool(text) and language.code not in (FRENCH, UNKNOWN)


def _skipped(text: str, language: Language, translator: str) -> Translation:
    if not text:
        return Translation(status="not_needed", reason="empty text")
    if language.code == FRENCH:
        return Translation(status="not_needed")
    if language.code == UNKNOWN:
        return Translation(status="not_needed", reason="language unknown: kept as is")
    return Translation(status="disabled", reason=f"translator={translator}")


class Preparer:
    """Turns submitted offers into prepared ones, a batch at a time."""

    def __init__(
        self, settings: Settings, detector: LanguageDetector, translator: TextTranslator | None
    ) -> None:
        self.settings = settings
        self.detector = detector
        self.translator = translator
        # Finish well before the reclaimer would hand the batch to another consumer.
        self.translation_budget_s = TRANSLATION_BUDGET_SHARE * settings.reclaim_idle_ms / 1000

    @classmethod
    def from_settings(cls, settings: Settings, redis: Any | None = None) -> Preparer:
        """``redis`` (a ``redis.asyncio.Redis``) enables the translation cache; None: no cache."""
        detector = LanguageDetector(settings.language_min_confidence)
        translator = None if settings.translator == "none" else TextTranslator(settings, redis)
        return cls(settings, detector, translator)

    def clean(self, events: Sequence[ListingSubmitted]) -> list[CleanText]:
        return [clean_offer_text(e.title, e.description, self.settings.max_text_chars) for e in events]

    async def prepare(self, events: Sequence[ListingSubmitted]) -> list[ListingPrepared]:
        """One prepared event per submitted event, in order, stamped ``prepared``.

        Raises :class:`TranslationUnavailable` when a translation failed and the settings say
        to retry later rather than publish untranslated text.
        """
        cleaned = self.clean(events)
        texts = [c.text for c in cleaned]
        languages = self.detector.detect_batch(texts)
        to_translate = [i for i, t in enumerate(texts) if needs_translation(t, languages[i])]
        outcomes: dict[int, TranslationResult] = {}
        if to_translate and self.translator is not None:
            results = await self.translator.translate_many(
                [(texts[i], languages[i].code) for i in to_translate], budget_s=self.translation_budget_s
            )
            outcomes = dict(zip(to_translate, results, strict=True))
            failed = [r for r in results if r.status == "failed"]
            if failed:
                log_event(
                    log,
                    "translation failed",
                    logging.WARNING,
                    failed=len(failed),
                    batch=len(events),
                    on_failure=self.settings.translation_on_failure,
                    reason=failed[0].reason,
                )
                if self.settings.translation_on_failure == "retry":
                    raise TranslationUnavailable(failed[0].reason or "translation failed")
        now = utcnow()
        prepared: list[ListingPrepared] = []
        for i, event in enumerate(events):
            outcome = outcomes.get(i)
            if outcome is None:
                translation = _skipped(texts[i], languages[i], self.settings.translator)
                text_fr = texts[i]
            else:
                translation = Translation(
                    status=outcome.status, provider=self.settings.translator, reason=outcome.reason
                )
                text_fr = outcome.text
            envelope = event.envelope()
            envelope["timestamps"]["prepared"] = now
            prepared.append(
                ListingPrepared(
                    **envelope,
                    title=event.title,
                    description=event.description,
                    image_uri=event.image_uri,
                    text=texts[i],
                    text_fr=text_fr,
                    text_truncated=cleaned[i].truncated,
                    language=languages[i],
                    translation=translation,
                )
            )
        return prepared

    def close(self) -> None:
        """Free the translation threads."""
        if self.translator is not None:
            self.translator.close()
