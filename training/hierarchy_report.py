"""Scores of a taxonomy's levels: weighted F1 of the leaf, its category and its department, and
where the errors fall (between siblings, within a department, across departments).

Why: at hundreds of leaves a leaf-level F1 alone hides whether a model confuses look-alike
siblings (a cheap mistake: the right shelf) or sends offers to another department (the costly
one); the training report and `catalog evaluate` carry both (docs/taxonomy.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shared.taxonomy.files import find_taxonomy_file, read_taxonomy, reference_taxonomy
from shared.taxonomy.model import Taxonomy, TaxonomyError


def catalog_taxonomy(data_dir: Path, codes: list[int]) -> Taxonomy | None:
    """The tree beside the catalog (taxonomy.json/.csv), else the reference tree when it has
    every class; None when neither names them all (no levels to score)."""
    found = find_taxonomy_file(data_dir)
    try:
        tree = read_taxonomy(found) if found else reference_taxonomy()
    except (OSError, TaxonomyError):
        return None
    return tree if all(code in tree.nodes for code in codes) else None


def level_names(depth: int) -> list[str]:
    """Names of levels 1..depth: department first, leaf last, categories between."""
    if depth <= 1:
        return ["leaf"]
    middle = ["category"] if depth == 3 else [f"level {k}" for k in range(2, depth)]
    return ["department", *middle, "leaf"]


def hierarchy_metrics(
    tree: Taxonomy, codes: list[int], y_true: np.ndarray, y_pred: np.ndarray
) -> dict[str, Any]:
    """Weighted F1 per level (each row's true and predicted leaf read as their ancestor at that
    level; a shallower leaf stands for itself), and the errors split by how far apart the true
    and predicted leaves sit in the tree."""
    from sklearn.metrics import f1_score

    known = y_true >= 0
    true_codes = np.asarray(codes)[y_true[known]]
    pred_codes = np.asarray(codes)[y_pred[known]]
    chains = {code: tree.ancestry(int(code)) for code in set(codes)}
    depth = max(len(chain) for chain in chains.values()) if chains else 1
    levels: dict[str, Any] = {}
    for k, name in enumerate(level_names(depth)):

        def at(code: int, k: int = k) -> int:
            chain = chains[int(code)]
            return chain[min(k, len(chain) - 1)]

        t = np.array([at(c) for c in true_codes])
        p = np.array([at(c) for c in pred_codes])
        levels[name] = {
            "classes": len({at(c) for c in codes}),
            "weighted_f1": round(float(f1_score(t, p, average="weighted", zero_division=0)), 4)
            if len(t) else None,
            "accuracy": round(float((t == p).mean()), 4) if len(t) else None,
        }  # fmt: skip
    kinds = {"sibling": 0, "same_department": 0, "other_department": 0}
    for t_code, p_code in zip(true_codes, pred_codes, strict=True):
        if t_code == p_code:
            continue
        a, b = chains[int(t_code)], chains[int(p_code)]
        if a[:-1] == b[:-1]:
            kinds["sibling"] += 1
        elif a[0] == b[0]:
            kinds["same_department"] += 1
        else:
            kinds["other_department"] += 1
    errors = sum(kinds.values())
    return {
        "rows": int(known.sum()),
        "levels": levels,
        "errors": {
            "count": errors,
            **{
                k: {"count": v, "share_of_errors": round(v / errors, 4) if errors else 0.0}
                for k, v in kinds.items()
            },
        },
    }
