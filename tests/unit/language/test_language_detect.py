"""Language detection with the real lid.176 model on a multilingual sample."""

from __future__ import annotations

import pytest

from services.language.detect import UNKNOWN, LanguageDetector

SAMPLE = {
    "fr": "Boîte neuve jamais ouverte, complète avec sa notice et tous les accessoires d'origine.",
    "en": "Brand new box, never opened, complete with the manual and all original accessories.",
    "de": "Neue Box, nie geöffnet, komplett mit Anleitung und allem Originalzubehör.",
    "it": "Scatola nuova mai aperta, completa di istruzioni e di tutti gli accessori originali.",
    "es": "Caja nueva nunca abierta, completa con el manual y todos los accesorios originales.",
}

MIXED = {
    # French sentences around English brand and product words: French wins.
    "fr": "Coque pour iPhone 12 Pro Max, silicone transparente, protection antichoc pour votre "
    "smartphone, livrée avec un verre trempé. Compatible Apple MagSafe wireless charging.",
    # An English listing quoting a French product name.
    "en": "This Crème Brûlée torch is the perfect kitchen tool for caramelizing sugar, browning "
    "meringue and roasting peppers. Refillable and easy to use.",
    # German description after a French title: the longer German part dominates.
    "de": "Jouet en bois . Dieses hochwertige Holzspielzeug fördert die Kreativität Ihres Kindes "
    "und ist aus nachhaltigem Buchenholz gefertigt, ohne schädliche Lacke.",
}


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector(min_confidence=0.5)


def test_detects_each_language(detector: LanguageDetector) -> None:
    results = detector.detect_batch(list(SAMPLE.values()))
    assert [r.code for r in results] == list(SAMPLE)
    assert all(0.5 <= r.confidence <= 1.0 for r in results)


def test_mixed_text_gets_its_dominant_language(detector: LanguageDetector) -> None:
    results = detector.detect_batch(list(MIXED.values()))
    assert [r.code for r in results] == list(MIXED)


def test_all_caps_titles_are_detected(detector: LanguageDetector) -> None:
    text = SAMPLE["fr"].upper()
    assert detector.detect(text).code == "fr"


@pytest.mark.parametrize("text", ["", "12345", "3.05 m - 220V", "ok", "  \n "])
def test_numeric_or_tiny_text_is_unknown(detector: LanguageDetector, text: str) -> None:
    result = detector.detect(text)
    assert result.code == UNKNOWN
    assert result.confidence == 0.0


def test_low_confidence_falls_back_to_unknown() -> None:
    text = "Lego Star Wars 75192 Millennium Falcon"
    strict = LanguageDetector(min_confidence=0.9).detect(text)
    lenient = LanguageDetector(min_confidence=0.0).detect(text)
    assert strict.code == UNKNOWN
    assert lenient.code != UNKNOWN
    assert strict.confidence == lenient.confidence < 0.9


def test_newlines_do_not_break_detection(detector: LanguageDetector) -> None:
    text = "Neue Box\nnie geöffnet\r\nkomplett mit Anleitung\u2028und Zubehör"
    assert detector.detect(text).code == "de"
