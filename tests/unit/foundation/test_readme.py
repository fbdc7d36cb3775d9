"""The README's settings table is generated from the settings class; keep them in sync with
``catalog config --markdown``."""

from __future__ import annotations

import re
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


def test_the_table_of_pieces_names_existing_paths_and_every_service() -> None:
    """Each path in the "Where" column exists (paths move: the table must follow; a bare file
    name is looked up at the root and in the folders of its cell), and every ``services/<kind>/``
    has its row."""
    root = Path(__file__).resolve().parents[3]
    table = README.split("| Piece | Where | What it does |", 1)[1].split("\n\n", 1)[0]
    cells = [row.split("|")[2] for row in table.splitlines()[2:] if row.startswith("|")]
    named: list[str] = []
    missing: list[str] = []
    for cell in cells:
        names = re.findall(r"`([^`]+)`", cell)
        folders = [root / n for n in names if n.endswith("/")]
        for name in names:
            places = [root / name] if "/" in name else [root / name, *(f / name for f in folders)]
            if not any(p.exists() for p in places):
                missing.append(name)
        named += names
    assert len(named) > 10 and missing == []
    services = {f"services/{d.name}/" for d in (root / "services").iterdir() if (d / "__init__.py").exists()}
    assert services - set(named) == set()
