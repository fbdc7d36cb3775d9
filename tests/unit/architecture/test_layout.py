"""docs/architecture.md §11 ("Layout") names only paths that exist.

The section is a tree in a fenced block: one entry a line, two spaces of indentation per level,
the path first (a folder ends with ``/``), then what it holds. A move that forgets the page fails
here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def layout_block(text: str) -> str:
    """The fenced block of the "Layout" section."""
    section = re.search(r"^## \d+\. Layout\n(.*?)(?=^## )", text + "\n## ", flags=re.M | re.S)
    assert section is not None, "docs/architecture.md has no Layout section"
    block = re.search(r"^```\n(.*?)^```", section.group(1), flags=re.M | re.S)
    assert block is not None, "the Layout section has no fenced tree"
    return block.group(1)


def layout_paths(block: str) -> list[str]:
    """Each entry's full path (its parents' folders joined), in the order of the tree."""
    parents: list[str] = []
    paths = []
    for line in block.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        assert indent % 2 == 0, f"odd indentation: {line!r}"
        depth = indent // 2
        assert depth <= len(parents), f"entry deeper than its parent allows: {line!r}"
        name = line.split()[0]
        del parents[depth:]
        paths.append("".join(parents) + name)
        if name.endswith("/"):
            parents.append(name)
    return paths


def test_every_path_of_the_layout_exists() -> None:
    paths = layout_paths(layout_block(ARCHITECTURE.read_text(encoding="utf-8")))
    assert len(paths) > 20  # the parser reads the tree
    missing = [
        path
        for path in paths
        if not ((ROOT / path).is_dir() if path.endswith("/") else (ROOT / path).is_file())
    ]
    assert missing == [], "named in docs/architecture.md §11 but absent:\n" + "\n".join(missing)


def test_the_tree_is_read_as_nested_paths() -> None:
    block = "shared/    the library\n  broker/  helper\n    app.py  app\n  config.py  settings\ndocs/  d\n"
    assert layout_paths(block) == [
        "shared/",
        "shared/broker/",
        "shared/broker/app.py",
        "shared/config.py",
        "docs/",
    ]
