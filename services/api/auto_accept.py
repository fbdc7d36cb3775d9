"""Auto-accept in production: per model version, how many predictions were `auto` (coverage)
and how precise the reviewed ones were, against the target (shared.ml.selective).

Precision is measured on reviewer labels: each version's latest `auto` prediction of every
labelled listing, against the listing's latest label (its ground truth, shared.db.quality).
Reviewers mostly see `review` offers, so `auto` ones are labelled by spot checks: the Wilson
interval says how little a few dozen prove. The version is *below target* when even the
interval's upper bound is under the target (95% sure, not one unlucky label); that is what the
``CatalogAutoAcceptPrecisionLow`` alert watches.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.api.counts import decisions_per_version
from shared.db.models import ListingLabel, Prediction
from shared.db.quality import ground_truth
from shared.lifecycle.quality import wilson


def _rounded(interval: tuple[float, float] | None) -> list[float] | None:
    return [round(interval[0], 4), round(interval[1], 4)] if interval else None


def auto_acceptance(session: Session, target: float) -> list[dict[str, Any]]:
    """Per model version with decisions (live, non-shadow predictions), newest version first."""
    counts: dict[str, dict[str, int]] = {}
    for version, decision, n in decisions_per_version(session):  # the writer's day counts
        counts.setdefault(version, {"auto": 0, "review": 0})[str(decision)] = int(n)
    truth = ground_truth(session) if counts else {}
    reviewed: dict[str, dict[str, int]] = {v: {} for v in counts}
    if truth:
        labelled = select(ListingLabel.listing_id).distinct().scalar_subquery()
        autos = session.execute(
            select(Prediction.model_version, Prediction.listing_id, Prediction.prdtypecode)
            .where(
                Prediction.decision == "auto",
                Prediction.shadow.is_(False),
                Prediction.listing_id.in_(labelled),
            )
            .order_by(Prediction.classified_at, Prediction.id)
        )
        for version, listing_id, code in autos:
            reviewed.setdefault(version, {})[listing_id] = int(code)  # the latest wins
    out = []
    for version in sorted(counts, reverse=True):
        auto, total = counts[version]["auto"], sum(counts[version].values())
        pairs = reviewed.get(version, {})
        correct = sum(1 for listing, code in pairs.items() if truth[listing] == code)
        interval = wilson(correct, len(pairs))
        out.append(
            {
                "model_version": version,
                "predictions": total,
                "auto": auto,
                "coverage": round(auto / total, 4) if total else None,
                "coverage_ci95": _rounded(wilson(auto, total)),
                "reviewed_auto": len(pairs),
                "correct_auto": correct,
                "precision": round(correct / len(pairs), 4) if pairs else None,
                "precision_ci95": _rounded(interval),
                "target_precision": target,
                "below_target": bool(interval is not None and interval[1] < target),
            }
        )
    return out
