from __future__ import annotations

from shared.ml.text import clean_offer_text, merge_title_description, strip_html


def test_strip_html_removes_tags_scripts_and_double_entities() -> None:
    raw = "<p>Bo&amp;eacute;te&nbsp;neuve<br/>jamais <b>ouverte</b></p><script>x()</script>"
    assert strip_html(raw) == "Boéte neuve jamais ouverte"


def test_description_equal_to_title_is_skipped() -> None:
    assert merge_title_description("Lego 75192", "<p>lego 75192</p>") == "Lego 75192"
    assert merge_title_description("Lego", None) == "Lego"
    assert merge_title_description("", "<i>desc</i>") == "desc"
    assert merge_title_description("A", "B") == "A . B"


def test_long_text_is_capped_on_a_word_and_flagged() -> None:
    clean = clean_offer_text("titre", "<p>" + "mot " * 5000 + "</p>", max_chars=1000)
    assert clean.truncated
    assert len(clean.text) <= 1000
    assert clean.text.endswith("mot")
    assert not clean_offer_text("titre", "court").truncated
