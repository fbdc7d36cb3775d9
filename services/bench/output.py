"""Where every ``catalog bench ...`` result goes: one JSON file, echoed on the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console


def write_results(json_out: Path, body: dict[str, Any], console: Console) -> None:
    """Write ``body`` to ``json_out`` (parents created) and print it."""
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(body, indent=2, default=str), "utf-8")
    console.print_json(json.dumps(body, default=str))
