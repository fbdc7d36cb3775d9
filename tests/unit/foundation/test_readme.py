"""The README's settings table is generated from the settings class; keep them in sync with
``catalog config --markdown``."""

from __future__ import annotations

from pathlib import Path

from shared.config import settings_table_markdown

README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def test_readme_settings_table_matches_the_settings_class() -> None:
    assert BEGIN in README and END in README
    table = README.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == settings_table_markdown(), (
        "README settings table is stale: regenerate it with `catalog config --markdown`"
    )


def test_readme_names_the_two_commands() -> None:
    assert "make demo" in README
    assert "make test" in README
