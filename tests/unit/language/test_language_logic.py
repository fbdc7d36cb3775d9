"""The Preparer without translation: cleaning, detection, statuses, the envelope."""

from __future__ import annotations

from services.language.logic import Preparer
from shared.config import Settings
from shared.contract import ListingSubmitted, Origin


def big_html_description(chars: int = 12_000) -> str:
    paragraph = "<p>Produit <b>neuf</b> &amp; garanti, livr&eacute; avec notice.</p>\n<br/>"
    return "<div>" + paragraph * (chars // len(paragraph) + 1) + "</div>"


async def test_statuses_without_translator() -> None:
    preparer = Preparer.from_settings(Settings(translator="none"))
    events = [
        ListingSubmitted.new("1", "Boîte neuve jamais ouverte", "<p>Complète avec sa notice</p>"),
        ListingSubmitted.new("2", "Brand new box never opened", "Complete with the manual"),
        ListingSubmitted.new("3", "12345"),
        ListingSubmitted.new("4", ""),
    ]
    fr, en, numeric, empty = await preparer.prepare(events)
    assert (fr.language.code, fr.translation.status) == ("fr", "not_needed")
    assert (en.language.code, en.translation.status) == ("en", "disabled")
    assert en.text_fr == en.text  # nothing to read but the original
    assert (numeric.language.code, numeric.translation.status) == ("unknown", "not_needed")
    assert (empty.text, empty.translation.reason) == ("", "empty text")
    assert fr.text == "Boîte neuve jamais ouverte . Complète avec sa notice"


async def test_envelope_is_carried_and_prepared_is_stamped() -> None:
    preparer = Preparer.from_settings(Settings(translator="none"))
    event = ListingSubmitted.new(
        "42", "Jeu de société", image_uri="file:///x.jpg", origin=Origin(kind="reclassify")
    )
    (prepared,) = await preparer.prepare([event])
    assert prepared.submission_id == event.submission_id
    assert prepared.listing_id == "42"
    assert prepared.origin.kind == "reclassify"
    assert prepared.image_uri == "file:///x.jpg"
    assert prepared.timestamps["submitted"] == event.timestamps["submitted"]
    assert prepared.timestamps["prepared"] >= event.timestamps["submitted"]
    assert "prepared" not in event.timestamps  # input untouched


async def test_12k_html_description_is_cleaned_and_capped() -> None:
    description = big_html_description()
    assert len(description) > 12_000
    preparer = Preparer.from_settings(Settings(translator="none", max_text_chars=5000))
    (prepared,) = await preparer.prepare([ListingSubmitted.new("1", "Lot de 3", description)])
    assert prepared.text_truncated is True
    assert len(prepared.text) <= 5000
    assert "<" not in prepared.text and "&amp;" not in prepared.text and "\n" not in prepared.text
    assert "neuf & garanti, livré avec notice." in prepared.text
    assert prepared.description == description  # the original is kept
    assert prepared.language.code == "fr"
