"""The code's references to the design point at a document in the repository, at a section it has.

The code once cited "DESIGN §N" of a document that was never committed; it now cites
``docs/architecture.md §N``, and this test keeps every such number pointing at a real section.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SOURCES = ("shared", "services", "training", "tests", "deploy")
TOP_FILES = ("pyproject.toml", "docker-compose.yml", "Makefile")
SUFFIXES = {".py", ".toml", ".yml", ".yaml", ".sh", ".cfg", ".ini", ""}
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def source_files() -> list[Path]:
    files = [ROOT / name for name in TOP_FILES if (ROOT / name).is_file()]
    for top in SOURCES:
        files += [
            p
            for p in sorted((ROOT / top).rglob("*"))
            if p.is_file() and p.suffix in SUFFIXES and "__pycache__" not in p.parts
        ]
    return files


def sections() -> set[str]:
    return set(re.findall(r"^## (\d+)\.", ARCHITECTURE.read_text(encoding="utf-8"), flags=re.M))


def test_no_reference_to_a_design_document_outside_the_repository() -> None:
    this = Path(__file__).resolve()
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in source_files()
        if p.resolve() != this
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if re.search(r"\bDESIGN\s*§", line)
    ]
    assert found == []


def test_every_architecture_section_cited_exists() -> None:
    known = sections()
    assert {"2", "3", "4", "9"} <= known  # the parser reads the headings
    cited = re.compile(r"architecture\.md\s*§\s*(\d+)")
    dangling = [
        f"{p.relative_to(ROOT)}:{n}: §{number}"
        for p in source_files()
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        for number in cited.findall(line)
        if number not in known
    ]
    assert dangling == []
