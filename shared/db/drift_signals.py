"""The drift signals' values of one prediction, in Python (the writer's ``drift_counts``) and in
SQL (the backfill and the reads of raw predictions at a window's edges): both must bin alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case

CONFIDENCE_EDGES = [round(0.1 * i, 1) for i in range(11)]
ROLLED_SIGNALS = ("confidence", "language", "no_photo")
"""The signals ``drift_counts`` holds; ``class_shares`` is read from ``prediction_counts``."""


def confidence_bin(confidence: float) -> str:
    """The bin of :data:`CONFIDENCE_EDGES` holding ``confidence`` (the last bin is closed)."""
    for i, edge in enumerate(CONFIDENCE_EDGES[1:-1]):
        if confidence < edge:
            return str(i)
    return str(len(CONFIDENCE_EDGES) - 2)


def signal_values(
    confidence: float, language: str | None, image_missing_reason: str | None
) -> dict[str, str]:
    """Each rolled-up signal's value for one live ingested prediction."""
    return {
        "confidence": confidence_bin(confidence),
        "language": language if language is not None else "unknown",
        "no_photo": "photo" if image_missing_reason is None else "no_photo",
    }


def signal_columns(table: Any) -> dict[str, Any]:
    """The same values as SQL expressions over a table with the predictions' columns."""
    edges = CONFIDENCE_EDGES[1:-1]
    return {
        "confidence": case(
            *((table.confidence < e, str(i)) for i, e in enumerate(edges)), else_=str(len(edges))
        ),
        "language": case((table.language.is_(None), "unknown"), else_=table.language),
        "no_photo": case((table.image_missing_reason.is_(None), "photo"), else_="no_photo"),
    }


def signal_sql() -> dict[str, str]:
    """The same values as SQL text over ``predictions`` (set-based backfill)."""
    edges = CONFIDENCE_EDGES[1:-1]
    bins = " ".join(f"WHEN confidence < {e} THEN '{i}'" for i, e in enumerate(edges))
    return {
        "confidence": f"CASE {bins} ELSE '{len(edges)}' END",
        "language": "coalesce(language, 'unknown')",
        "no_photo": "CASE WHEN image_missing_reason IS NULL THEN 'photo' ELSE 'no_photo' END",
    }
