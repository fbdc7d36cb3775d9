"""Halves fusion can never classify are refused at their first delivery, not held in the join.

A half naming a model version the repository does not hold (a forged event, or one of a
revision deleted since) would wait alone until ``join_ttl_s`` and then fail: it is
dead-lettered at once with the reason, and logged.
"""

from __future__ import annotations

import logging

from shared.broker import Reject
from shared.inference.store import ModelStore

from .join import Half

log = logging.getLogger(__name__)


async def refuse_unknown_versions(halves: list[Half], store: ModelStore) -> tuple[list[Half], list[Reject]]:
    """(halves whose model version the repository holds, rejections of the others)."""
    known: dict[str, bool] = {}
    kept: list[Half] = []
    refused: list[Reject] = []
    for half in halves:
        version = half.model_version
        if version not in known:
            try:
                await store.by_version(version)
                known[version] = True
            except LookupError:
                known[version] = False
        if known[version]:
            kept.append(half)
            continue
        error = f"unknown_model_version: {version!r} is not in the model repository"
        log.warning("half refused", extra={"submission_id": str(half.submission_id), "error": error[:200]})
        refused.append(Reject(half, error=error))
    return kept, refused
