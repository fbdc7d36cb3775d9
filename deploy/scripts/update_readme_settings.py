"""Regenerate the settings table of README.md from shared.config.Settings (`make readme`)."""

from __future__ import annotations

from pathlib import Path

from shared.config import settings_table_markdown

BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"
readme = Path(__file__).resolve().parents[2] / "README.md"
text = readme.read_text(encoding="utf-8")
head, rest = text.split(BEGIN, 1)
_, tail = rest.split(END, 1)
readme.write_text(f"{head}{BEGIN}\n{settings_table_markdown()}\n{END}{tail}", encoding="utf-8")
print(f"updated {readme}")
