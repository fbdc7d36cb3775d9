"""The reference category set (Rakuten France's 27 prdtypecodes), shipped with the package.

Models carry their own label set in their manifest; this file seeds the ``categories`` table and
the synthetic catalog.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class CategoryInfo:
    prdtypecode: int
    label: str
    train_count: int


@lru_cache
def reference_categories() -> tuple[CategoryInfo, ...]:
    raw = json.loads(resources.files("shared").joinpath("data/categories.json").read_text("utf-8"))
    return tuple(
        CategoryInfo(int(c["prdtypecode"]), str(c["label"]), int(c["train_count"])) for c in raw["categories"]
    )


def label_of(code: int) -> str:
    for cat in reference_categories():
        if cat.prdtypecode == code:
            return cat.label
    return str(code)
