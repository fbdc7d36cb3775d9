"""Taxonomy files, JSON or CSV (docs/taxonomy.md), and the reference tree shipped with the package.

JSON: ``{"title": ..., "categories": [{"code", "name", "parent", "names": {"en": ...},
"retired", "merged_into"}], "merges": {"old": new}}``. CSV: one row per code with columns
``code,name,parent,retired,merged_into`` and ``name_<language>`` for translated names.
``merges`` (JSON) may name old codes the file does not list otherwise (they keep their stored name).
"""

from __future__ import annotations

import csv
import io
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from shared.taxonomy.model import Node, Taxonomy, TaxonomyError

REFERENCE = "data/taxonomy.json"
_TRUE = {"1", "true", "yes", "y", "retired"}
_FALSE = {"", "0", "false", "no", "n"}


def _code(value: Any, what: str, problems: list[str]) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(str(value).strip()) if not isinstance(value, float) else int(value)
    except ValueError:
        problems.append(f"{what}: {value!r} is not an integer code")
        return None


def _flag(value: Any, what: str, problems: list[str]) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    problems.append(f"{what}: {value!r} is not true/false")
    return False


def _node(entry: dict[str, Any], where: str, problems: list[str]) -> Node | None:
    code = _code(entry.get("code"), f"{where} code", problems)
    if code is None:
        problems.append(f"{where}: no code")
        return None
    names = dict(entry.get("names") or {})
    names.update({k[5:]: v for k, v in entry.items() if k.startswith("name_") and v})
    name = entry.get("name")
    return Node(
        code=code,
        name=str(name).strip() if name is not None and str(name).strip() else None,
        parent=_code(entry.get("parent"), f"{where} parent", problems),
        names={str(k): str(v) for k, v in names.items()},
        retired=_flag(entry.get("retired"), f"{where} retired", problems),
        merged_into=_code(entry.get("merged_into"), f"{where} merged_into", problems),
    )


def parse_json(text: str) -> Taxonomy:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaxonomyError([f"not JSON: {exc}"]) from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("categories"), list):
        raise TaxonomyError(['a JSON taxonomy is an object with a "categories" list'])
    problems: list[str] = []
    nodes = [_node(dict(e), f"categories[{i}]", problems) for i, e in enumerate(raw["categories"])]
    listed: dict[int, Node] = {}
    for node in nodes:
        if node is not None and listed.setdefault(node.code, node) is not node:
            problems.append(f"code {node.code} is listed twice")
    merges = raw.get("merges") or {}
    for old, new in merges.items() if isinstance(merges, dict) else []:
        old_code = _code(old, "merges", problems)
        new_code = _code(new, f"merges[{old}]", problems)
        if old_code is None or new_code is None:
            continue
        base = listed.get(old_code) or Node(code=old_code, name=None)
        listed[old_code] = Node(base.code, base.name, base.parent, base.names, base.retired, new_code)
    if problems:
        raise TaxonomyError(problems)
    return Taxonomy.build(listed.values(), str(raw.get("title", "")))


def parse_csv(text: str) -> Taxonomy:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "code" not in reader.fieldnames:
        raise TaxonomyError(["a CSV taxonomy has a header row with at least code and name"])
    problems: list[str] = []
    nodes = [_node(dict(row), f"line {i + 2}", problems) for i, row in enumerate(reader)]
    if problems:
        raise TaxonomyError(problems)
    return Taxonomy.build([n for n in nodes if n is not None])


def read_taxonomy(path: Path) -> Taxonomy:
    """A taxonomy file, by its suffix (.json or .csv)."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise TaxonomyError([f"{path.name}: a taxonomy file ends with .json or .csv"])
    text = path.read_text("utf-8-sig")
    return parse_csv(text) if suffix == ".csv" else parse_json(text)


def find_taxonomy_file(data_dir: Path) -> Path | None:
    """``taxonomy.json`` or ``taxonomy.csv`` beside a training catalog, if there is one."""
    for name in ("taxonomy.json", "taxonomy.csv"):
        if (data_dir / name).is_file():
            return data_dir / name
    return None


@lru_cache
def reference_taxonomy() -> Taxonomy:
    """Rakuten France's 27 codes under departments (codes 90001+), the default tree."""
    return parse_json(resources.files("shared").joinpath(REFERENCE).read_text("utf-8"))


def to_json(taxonomy: Taxonomy) -> str:
    body = {
        "title": taxonomy.title,
        "categories": [
            {k: v for k, v in taxonomy.nodes[c].canonical().items() if v not in (None, {}, False)}
            for c in sorted(taxonomy.nodes)
        ],
    }
    return json.dumps(body, ensure_ascii=False, indent=1) + "\n"
