"""The promotion gate: a candidate goes live only with evidence that it is not worse.

Two checks, each "the candidate's weighted F1 is not below the current one's by more than
``tolerance``" (absolute, default ``CATALOG_PROMOTION_TOLERANCE``):

1. **held-out**: the fusion weighted F1 of both manifests' evaluations (``metrics.fusion``),
   computed at training time on the fixed held-out split; the report says whether both were
   trained on the same data with the same split (same fingerprint, seed and fractions), the only
   case where the two numbers are measured on the same rows;
2. **corrected listings**: both versions' latest predictions of the listings reviewers labelled,
   on the listings both predicted (a shadow run gives the candidate such predictions); counted
   only from ``min_labels`` listings on, below that the check is reported as skipped.

The shadow agreement (candidate vs current on the same live submissions) is reported, not gated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from shared.db.quality import paired_quality, shadow_agreement
from shared.db.session import session_scope
from shared.lifecycle import Change, LifecycleError, current_version, make_current
from shared.model_repo import Manifest, find_manifest_by_version


class GateRefused(RuntimeError):
    """The gate refused the candidate (the report says why)."""

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__("; ".join(report["reasons"]))
        self.report = report


def held_out_f1(manifest: Manifest) -> float | None:
    value = (manifest.metrics.get("fusion") or {}).get("weighted_f1")
    return float(value) if value is not None else None


def same_split(a: Manifest, b: Manifest) -> bool:
    def key(m: Manifest) -> tuple[Any, ...]:
        profile = m.training.get("profile") or {}
        return (
            m.training.get("data_fingerprint"),
            profile.get("seed"),
            profile.get("test_fraction"),
            profile.get("fusion_fraction"),
        )

    return key(a) == key(b) and key(a)[0] is not None


def evaluate_gate(
    repository: Path,
    database_url: str | None,
    candidate_version: str,
    *,
    tolerance: float,
    min_labels: int,
) -> dict[str, Any]:
    """The gate's report for making ``candidate_version`` current (``passed`` and ``reasons``)."""
    candidate = find_manifest_by_version(repository, candidate_version)
    current_v = current_version(repository)
    report: dict[str, Any] = {
        "candidate": candidate.version,
        "current": current_v,
        "tolerance": tolerance,
        "passed": True,
        "reasons": [],
    }
    if current_v is None or current_v == candidate.version:
        report["reasons"].append("nothing else is current: no comparison to make")
        return report
    current = find_manifest_by_version(repository, current_v)
    cand_f1, cur_f1 = held_out_f1(candidate), held_out_f1(current)
    held: dict[str, Any] = {
        "candidate_weighted_f1": cand_f1,
        "current_weighted_f1": cur_f1,
        "same_split": same_split(candidate, current),
    }
    if cand_f1 is None:
        held["status"] = "failed"
        report["reasons"].append("the candidate has no held-out evaluation (metrics.fusion.weighted_f1)")
    elif cur_f1 is None:
        held["status"] = "skipped"
        report["reasons"].append("the current revision has no held-out evaluation: held-out check skipped")
    elif cand_f1 < cur_f1 - tolerance:
        held["status"] = "failed"
        report["reasons"].append(
            f"held-out weighted F1 {cand_f1:.4f} is below the current {cur_f1:.4f} by more than {tolerance}"
        )
    else:
        held["status"] = "passed"
    if cand_f1 is not None and cur_f1 is not None and not held["same_split"]:
        report["reasons"].append(
            "the held-out figures come from different splits (other data or split settings): "
            "not measured on the same rows; the corrected listings compare both on the same ones"
        )
    report["held_out"] = held
    report["corrected"], report["shadow"] = _from_database(
        database_url, current.version, candidate.version, tolerance, min_labels, report["reasons"]
    )
    report["passed"] = held["status"] != "failed" and report["corrected"].get("status") != "failed"
    return report


def _from_database(
    url: str | None, current: str, candidate: str, tolerance: float, min_labels: int, reasons: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    if url is None:
        return {"status": "skipped", "why": "no database"}, {}
    try:
        with session_scope(url) as session:
            paired = paired_quality(session, current, candidate)
            agreement = shadow_agreement(session, candidate)
    except SQLAlchemyError as exc:
        reasons.append(f"corrected listings unavailable ({type(exc).__name__}): check skipped")
        return {"status": "skipped", "why": str(exc)[:300]}, {}
    corrected: dict[str, Any] = {
        "listings": paired["listings"],
        "min_labels": min_labels,
        "candidate": paired[candidate],
        "current": paired[current],
    }
    cand_f1, cur_f1 = paired[candidate]["weighted_f1"], paired[current]["weighted_f1"]
    if paired["listings"] < min_labels or cand_f1 is None or cur_f1 is None:
        corrected["status"] = "skipped"
        reasons.append(
            f"{paired['listings']} labelled listings predicted by both versions (< {min_labels}): "
            "corrected-listings check skipped"
        )
    elif cand_f1 < cur_f1 - tolerance:
        corrected["status"] = "failed"
        reasons.append(
            f"weighted F1 on {paired['listings']} corrected listings {cand_f1:.4f} is below the "
            f"current {cur_f1:.4f} by more than {tolerance}"
        )
    else:
        corrected["status"] = "passed"
    shadow = next(
        (p for p in agreement["pairs"] if p["live_version"] == current),
        {"compared": 0, "agreement": None},
    )
    return corrected, {k: shadow.get(k) for k in ("compared", "agreed", "agreement", "top_changes")}


def promote(
    repository: Path,
    database_url: str | None,
    version: str,
    *,
    by: str,
    reason: str | None = None,
    force: bool = False,
    tolerance: float = 0.01,
    min_labels: int = 30,
) -> tuple[dict[str, Any], Change]:
    """Run the gate and make ``version`` current if it passes (or ``force``, recorded as such).

    Raises :class:`GateRefused` (nothing changed) or :class:`LifecycleError`.
    """
    if current_version(repository) == version:
        raise LifecycleError(f"{version} is current already")
    try:
        report = evaluate_gate(repository, database_url, version, tolerance=tolerance, min_labels=min_labels)
    except (LookupError, FileNotFoundError) as exc:
        raise LifecycleError(str(exc)) from exc
    if not report["passed"] and not force:
        raise GateRefused(report)
    change = make_current(repository, version, by=by, reason=reason, forced=not report["passed"], gate=report)
    return report, change
