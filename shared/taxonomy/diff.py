"""A model revision against the current taxonomy: which of its classes no longer exist, which
leaves it cannot predict, and whether the promotion gate must call it stale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.taxonomy.files import find_taxonomy_file, read_taxonomy, reference_taxonomy
from shared.taxonomy.model import UNKNOWN_VERSION, Taxonomy


def model_diff(taxonomy: Taxonomy, codes: list[int], trained_on: str | None) -> dict[str, Any]:
    """``codes``: the model's classes; ``trained_on``: its manifest's taxonomy version.

    Stale: trained on another version than the current one and it misses live leaves or
    predicts codes that no longer exist (retired, merged, unknown, or a department now).
    """
    trained_on = trained_on or UNKNOWN_VERSION
    classes = set(codes)
    gone: dict[str, list[Any]] = {"retired": [], "merged": [], "unknown": [], "department": []}
    for code in sorted(classes):
        status = taxonomy.status(code)
        if status == "merged":
            gone["merged"].append({"code": code, "into": taxonomy.resolve(code)})
        elif status != "live":
            gone[status].append(code)
    missing = [c for c in taxonomy.live_leaves() if c not in classes]
    same = trained_on == taxonomy.version
    stale = not same and (bool(missing) or any(gone.values()))
    return {
        "current_taxonomy": taxonomy.version,
        "trained_on": trained_on,
        "same_version": same,
        "classes": len(classes),
        "no_longer_exist": gone,
        "cannot_predict": missing,
        "stale": stale,
    }


def stale_reason(diff: dict[str, Any]) -> str:
    gone = diff["no_longer_exist"]
    parts = [f"{len(v)} {k}" for k, v in gone.items() if v]
    if diff["cannot_predict"]:
        parts.append(f"cannot predict {len(diff['cannot_predict'])} live leaves")
    return f"trained on taxonomy {diff['trained_on']}, current is {diff['current_taxonomy']}: " + ", ".join(
        parts
    )


def training_taxonomy(
    codes: list[int], data_dir: Path, path: Path | None = None
) -> tuple[str, dict[int, str]]:
    """The taxonomy version a training run records and its classes' names.

    ``path`` (``catalog train --taxonomy``), else ``taxonomy.json``/``.csv`` beside the data, is
    recorded as it is; without either, the reference tree is, when it has every class (else the
    version is ``unknown``: the run names no taxonomy and the reference is not it).
    """
    chosen = path or find_taxonomy_file(data_dir)
    taxonomy = read_taxonomy(chosen) if chosen else reference_taxonomy()
    names = {code: taxonomy.name(code) for code in codes if code in taxonomy.nodes}
    if chosen is None and len(names) < len(set(codes)):
        return UNKNOWN_VERSION, names
    return taxonomy.version, names
