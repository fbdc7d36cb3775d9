"""Reviewers' labels and what they measure: live quality per model version, shadow agreement.

A label (``listing_labels``) records who set which category on a listing, when, and which
prediction it accepts or corrects. The latest label of a listing is its ground truth; every
model version's latest prediction of a labelled listing is scored against it (shadow
candidates' included, which is how a candidate earns evidence before it goes live).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.contract import utcnow
from shared.db.listings import as_utc, to_utc
from shared.db.models import Listing, ListingLabel, Prediction, ShadowPairCount
from shared.lifecycle.quality import summary
from shared.taxonomy.store import code_refusal


class LabelError(ValueError):
    """A label that cannot be recorded; ``status`` is the HTTP status the API answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def record_label(
    session: Session,
    listing_id: str,
    prdtypecode: int,
    reviewer: str,
    note: str | None = None,
    submission_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Store a reviewer's category for ``listing_id`` against the prediction it reviews (the
    listing's current one unless ``submission_id`` names another of its live predictions)."""
    listing = session.get(Listing, listing_id)
    if listing is None:
        raise LabelError(404, f"No listing {listing_id!r}: submit it with POST /v1/listings.")
    refused = code_refusal(session, prdtypecode)  # unknown, retired, merged or a department
    if refused is not None:
        raise LabelError(refused.status, str(refused))
    reviewed: Prediction | None = None
    target = submission_id or listing.current_submission_id
    if target is not None:
        reviewed = session.scalar(select(Prediction).where(Prediction.submission_id == target))
        if reviewed is None or reviewed.listing_id != listing_id:
            raise LabelError(409, f"Submission {target} is not a prediction of listing {listing_id!r}.")
    label = ListingLabel(
        listing_id=listing_id,
        prdtypecode=prdtypecode,
        action="accept" if reviewed is not None and reviewed.prdtypecode == prdtypecode else "correct",
        reviewer=reviewer,
        note=note,
        corrects_submission_id=reviewed.submission_id if reviewed else None,
        corrects_prdtypecode=reviewed.prdtypecode if reviewed else None,
        corrects_model_version=reviewed.model_version if reviewed else None,
        created_at=to_utc(utcnow()),
    )
    session.add(label)
    session.flush()
    return label_view(label)


def label_view(label: ListingLabel) -> dict[str, Any]:
    created = as_utc(label.created_at)
    return {
        "id": label.id,
        "listing_id": label.listing_id,
        "prdtypecode": label.prdtypecode,
        "action": label.action,
        "reviewer": label.reviewer,
        "note": label.note,
        "corrects": None
        if label.corrects_submission_id is None
        else {
            "submission_id": str(label.corrects_submission_id),
            "prdtypecode": label.corrects_prdtypecode,
            "model_version": label.corrects_model_version,
        },
        "created_at": created.isoformat() if created else None,
    }


def ground_truth(session: Session) -> dict[str, int]:
    """The latest label of every labelled listing."""
    truth: dict[str, int] = {}
    rows = session.execute(
        select(ListingLabel.listing_id, ListingLabel.prdtypecode).order_by(
            ListingLabel.created_at, ListingLabel.id
        )
    )
    for listing_id, code in rows:
        truth[listing_id] = int(code)
    return truth


@dataclass
class Scored:
    """One version's latest predictions of labelled listings: listing -> (predicted, true)."""

    version: str
    shadow: bool
    pairs: dict[str, tuple[int, int]]

    def summary(self, listings: set[str] | None = None) -> dict[str, Any]:
        keys = sorted(self.pairs if listings is None else listings & set(self.pairs))
        return summary([self.pairs[k][1] for k in keys], [self.pairs[k][0] for k in keys])


def scored_versions(session: Session, truth: dict[str, int] | None = None) -> dict[str, Scored]:
    """Per model version, its latest prediction of each labelled listing against the label
    (``truth``: :func:`ground_truth`, when the caller has read it already)."""
    truth = ground_truth(session) if truth is None else truth
    if not truth:
        return {}
    labelled = select(ListingLabel.listing_id).distinct().scalar_subquery()
    rows = session.execute(
        select(Prediction.model_version, Prediction.listing_id, Prediction.prdtypecode, Prediction.shadow)
        .where(Prediction.listing_id.in_(labelled))
        .order_by(Prediction.classified_at, Prediction.id)
    )
    out: dict[str, Scored] = {}
    for version, listing_id, code, shadow in rows:
        scored = out.setdefault(version, Scored(version, bool(shadow), {}))
        scored.shadow = scored.shadow and bool(shadow)  # shadow only if never live
        scored.pairs[listing_id] = (int(code), truth[listing_id])
    return out


def live_quality(session: Session) -> dict[str, Any]:
    """Labels so far (accepted vs corrected) and quality per model version over them."""
    actions = Counter(
        dict(session.execute(select(ListingLabel.action, func.count()).group_by(ListingLabel.action)).all())
    )
    truth = ground_truth(session)
    scored = scored_versions(session, truth)
    versions = [
        {"model_version": v, "shadow": s.shadow, **s.summary()}
        for v, s in sorted(scored.items(), key=lambda item: item[0], reverse=True)
    ]
    return {
        "labels": int(sum(actions.values())),
        "accepted": int(actions.get("accept", 0)),
        "corrected": int(actions.get("correct", 0)),
        "labelled_listings": len(truth),
        "versions": versions,
    }


def paired_quality(session: Session, version_a: str, version_b: str) -> dict[str, Any]:
    """Both versions scored on the labelled listings that both predicted (a fair comparison)."""
    scored = scored_versions(session)
    a, b = scored.get(version_a), scored.get(version_b)
    common = set(a.pairs) & set(b.pairs) if a and b else set()
    return {
        "listings": len(common),
        version_a: a.summary(common) if a else summary([], []),
        version_b: b.summary(common) if b else summary([], []),
    }


def recent_labels(session: Session, limit: int = 10) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ListingLabel).order_by(ListingLabel.created_at.desc(), ListingLabel.id.desc()).limit(limit)
    )
    return [label_view(r) for r in rows]


def labelled_listings(session: Session) -> list[tuple[Listing, int]]:
    """Every labelled listing with its latest label (for ``catalog export-labels``)."""
    truth = ground_truth(session)
    listings = session.scalars(select(Listing).where(Listing.listing_id.in_(list(truth)))).all()
    return [(listing, truth[listing.listing_id]) for listing in sorted(listings, key=lambda x: x.listing_id)]


def shadow_agreement(session: Session, shadow_version: str | None = None, top: int = 10) -> dict[str, Any]:
    """How often the shadow candidate agreed with the live prediction of the same submission,
    per (live version, shadow version), with the most frequent disagreements."""
    c = ShadowPairCount  # the writer's pair counts (migration 0011), not a join of the predictions
    query = select(c.live_version, c.shadow_version, c.live_code, c.shadow_code, c.count).where(c.count > 0)
    if shadow_version is not None:
        query = query.where(c.shadow_version == shadow_version)
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for live_v, shadow_v, a, b, n in session.execute(query):
        entry = pairs.setdefault((live_v, shadow_v), {"compared": 0, "agreed": 0, "changes": Counter()})
        entry["compared"] += int(n)
        if a == b:
            entry["agreed"] += int(n)
        else:
            entry["changes"][(int(a), int(b))] += int(n)
    out = []
    for (live_v, shadow_v), e in sorted(pairs.items()):
        changes = sorted(e["changes"].items(), key=lambda item: (-item[1], item[0]))[:top]
        out.append(
            {
                "live_version": live_v,
                "shadow_version": shadow_v,
                "compared": e["compared"],
                "agreed": e["agreed"],
                "agreement": round(e["agreed"] / e["compared"], 4) if e["compared"] else None,
                "top_changes": [{"from": a, "to": b, "count": n} for (a, b), n in changes],
            }
        )
    return {"pairs": out}
