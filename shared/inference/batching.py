"""Batch bookkeeping shared by both encoders: rows grouped by pinned version, logits per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from shared.contract import ModelOutput


def group_by_version(versions: Sequence[str]) -> dict[str, list[int]]:
    """Row indices per version, in first-seen order (one inference request per version)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, version in enumerate(versions):
        groups[version].append(index)
    return dict(groups)


def model_outputs(logits: dict[str, np.ndarray], row: int) -> list[ModelOutput]:
    """The event form of one row of every model's logits."""
    return [ModelOutput(model=name, logits=[float(x) for x in rows[row]]) for name, rows in logits.items()]


def joined(parts: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    """Each model's logits of a batch from those of its chunks, in order (a bulk batch's model
    calls run in chunks: ``shared.broker.lanes.chunks``)."""
    return {
        name: arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
        for name, arrays in parts.items()
        if arrays
    }
