"""The promotion gate: a candidate goes live only with evidence that it is not worse.

Two checks, each "the candidate's weighted F1 is not below the current one's by more than
``tolerance``" (absolute, default ``CATALOG_PROMOTION_TOLERANCE``):

1. **held-out**: the fusion weighted F1 of both revisions on the same held-out rows. When both
   were trained on the same data with the same split (same fingerprint, seed, fractions and
   grouping) the figures their manifests recorded at training time (``metrics.fusion``) are
   measured on the same rows and are compared as they are (basis ``same split``). Otherwise the
   caller measures both on common rows and passes the figures in (:class:`HeldOutFigures`):
   training/held_out.py (``promote_through_gate``, every promotion's way in) re-scores both
   revisions on the candidate's held-out rows minus any offer the current one trained on, since
   ``shared`` imports no training code. Without such figures (data unavailable, too few common
   rows, or a caller that did not re-score) the recorded figures are compared and the report says
   so in its ``basis`` and its reasons;
2. **corrected listings**: both versions' latest predictions of the listings reviewers labelled,
   on the listings both predicted (a shadow run gives the candidate such predictions); counted
   only from ``min_labels`` listings on, below that the check is reported as skipped;
3. **taxonomy** (``report["taxonomy"]``): a candidate trained on another taxonomy version than
   the database's current one that misses live leaves or predicts retired, merged or unknown
   codes is refused as stale (shared.taxonomy.diff); ``force`` overrides, recorded.

The shadow agreement (candidate vs current on the same live submissions) is reported, not gated;
so is each revision's coverage at its target precision (``held_out.coverage_at_target``: the
share of its held-out rows its auto-accept thresholds accept, shared.ml.selective), beside the
weighted F1: two revisions of equal F1 may differ in how many offers need a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from shared.db.quality import paired_quality, shadow_agreement
from shared.db.session import session_scope
from shared.lifecycle.state import Change, LifecycleError, current_version, make_current
from shared.ml.model_repo import Manifest, find_manifest_by_version
from shared.taxonomy.diff import model_diff, stale_reason
from shared.taxonomy.store import stored_taxonomy


class GateRefused(RuntimeError):
    """The gate refused the candidate (the report says why)."""

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__("; ".join(report["reasons"]))
        self.report = report


SAME_SPLIT = "same split"
RECORDED_DATA_UNAVAILABLE = "recorded figures, data unavailable"
RECORDED_TOO_FEW_ROWS = "recorded figures, too few common rows"
RECORDED_NOT_RESCORED = "recorded figures, different splits (not re-scored)"


def rescored_basis(rows: int) -> str:
    return f"re-scored on {rows} common held-out rows"


def held_out_f1(manifest: Manifest) -> float | None:
    value = (manifest.metrics.get("fusion") or {}).get("weighted_f1")
    return float(value) if value is not None else None


def coverage_at_target(manifest: Manifest) -> dict[str, Any] | None:
    """The revision's recorded auto-accept policy on its held-out rows (None: it has none)."""
    policy = manifest.selective
    if policy is None:
        return None
    return {
        "target_precision": policy.target_precision,
        "coverage": policy.coverage,
        "precision": policy.precision,
        "precision_ci95": list(policy.precision_ci95) if policy.precision_ci95 else None,
        "threshold": policy.threshold,
        "per_class_thresholds": len(policy.per_class),
    }


def same_split(a: Manifest, b: Manifest) -> bool:
    """Whether both revisions' held-out splits are the same rows: same data and split settings."""

    def key(m: Manifest) -> tuple[Any, ...]:
        profile = m.training.get("profile") or {}
        return (
            m.training.get("data_fingerprint"),
            profile.get("seed"),
            profile.get("test_fraction"),
            profile.get("fusion_fraction"),
            m.training.get("split_group_by", "text"),
        )

    return key(a) == key(b) and key(a)[0] is not None


@dataclass(frozen=True)
class HeldOutFigures:
    """Both revisions' held-out weighted F1 and what they were measured on (plain values: the
    caller that re-scores owns the training code, the gate only compares)."""

    candidate_weighted_f1: float | None
    current_weighted_f1: float | None
    basis: str
    rows: int | None = None
    note: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def recorded(self) -> bool:
        return self.basis.startswith("recorded figures") or self.basis == SAME_SPLIT


def recorded_figures(
    candidate: Manifest, current: Manifest, basis: str | None = None, note: str | None = None
) -> HeldOutFigures:
    """The figures the manifests recorded at training time; ``basis`` defaults to ``same split``
    or, for different splits, ``recorded figures, different splits (not re-scored)``."""
    same = same_split(candidate, current)
    rows = (candidate.metrics.get("fusion") or {}).get("n") if same else None
    return HeldOutFigures(
        held_out_f1(candidate),
        held_out_f1(current),
        basis or (SAME_SPLIT if same else RECORDED_NOT_RESCORED),
        int(rows) if rows is not None else None,
        note,
    )


def evaluate_gate(
    repository: Path,
    database_url: str | None,
    candidate_version: str,
    *,
    tolerance: float,
    min_labels: int,
    held_out: HeldOutFigures | None = None,
) -> dict[str, Any]:
    """The gate's report for making ``candidate_version`` current (``passed`` and ``reasons``).

    ``held_out``: both revisions' figures on common held-out rows, measured by the caller when
    the splits differ; without them the recorded figures are compared (the report says which).
    """
    candidate = find_manifest_by_version(repository, candidate_version)
    current_v = current_version(repository)
    report: dict[str, Any] = {
        "candidate": candidate.version,
        "current": current_v,
        "tolerance": tolerance,
        "passed": True,
        "reasons": [],
    }
    report["taxonomy"] = _taxonomy_check(database_url, candidate, report["reasons"])
    if report["taxonomy"].get("status") == "failed":
        report["passed"] = False
    if current_v is None or current_v == candidate.version:
        report["reasons"].append("nothing else is current: no comparison to make")
        report["held_out"] = {
            "candidate_weighted_f1": held_out_f1(candidate),
            "coverage_at_target": {"candidate": coverage_at_target(candidate), "current": None},
        }
        return report
    current = find_manifest_by_version(repository, current_v)
    figures = held_out if held_out is not None else recorded_figures(candidate, current)
    cand_f1, cur_f1 = figures.candidate_weighted_f1, figures.current_weighted_f1
    held: dict[str, Any] = {
        "candidate_weighted_f1": cand_f1,
        "current_weighted_f1": cur_f1,
        "basis": figures.basis,
        "rows": figures.rows,
        "same_split": same_split(candidate, current),
        "recorded": {
            "candidate_weighted_f1": held_out_f1(candidate),
            "current_weighted_f1": held_out_f1(current),
        },
        "coverage_at_target": {
            "candidate": coverage_at_target(candidate),
            "current": coverage_at_target(current),
        },
        **({"note": figures.note} if figures.note else {}),
        **figures.details,
    }
    where = f" ({figures.basis})"
    if cand_f1 is None:
        held["status"] = "failed"
        report["reasons"].append(f"the candidate has no held-out weighted F1{where}")
    elif cur_f1 is None:
        held["status"] = "skipped"
        report["reasons"].append(
            f"the current revision has no held-out weighted F1{where}: held-out check skipped"
        )
    elif cand_f1 < cur_f1 - tolerance:
        held["status"] = "failed"
        report["reasons"].append(
            f"held-out weighted F1 {cand_f1:.4f} is below the current {cur_f1:.4f} by more than "
            f"{tolerance}{where}"
        )
    else:
        held["status"] = "passed"
    if not held["same_split"]:
        if figures.recorded:
            why = f": {figures.note}" if figures.note else ""
            report["reasons"].append(
                f"held-out check on {figures.basis}{why}: the figures recorded at training come "
                "from different splits (other data or split settings), not the same rows; the "
                "corrected listings compare both on the same ones"
            )
        else:
            report["reasons"].append(
                f"the held-out splits differ (other data or split settings): both revisions "
                f"{figures.basis} (the candidate's held-out rows the current revision did not "
                "train on)"
            )
    report["held_out"] = held
    report["corrected"], report["shadow"] = _from_database(
        database_url, current.version, candidate.version, tolerance, min_labels, report["reasons"]
    )
    report["passed"] = (
        held["status"] != "failed"
        and report["corrected"].get("status") != "failed"
        and report["taxonomy"].get("status") != "failed"
    )
    return report


def _taxonomy_check(url: str | None, candidate: Manifest, reasons: list[str]) -> dict[str, Any]:
    """3. **taxonomy**: a candidate trained on another taxonomy version than the current one
    that misses live leaves or predicts codes that no longer exist is stale (refused)."""
    if url is None:
        return {"status": "skipped", "why": "no database"}
    try:
        with session_scope(url) as session:
            taxonomy = stored_taxonomy(session)
    except SQLAlchemyError as exc:
        reasons.append(f"taxonomy unavailable ({type(exc).__name__}): check skipped")
        return {"status": "skipped", "why": str(exc)[:300]}
    if taxonomy is None:
        return {"status": "skipped", "why": "no taxonomy loaded"}
    diff = model_diff(taxonomy, candidate.codes, candidate.taxonomy_version)
    if diff["stale"]:
        reasons.append(f"stale taxonomy: {stale_reason(diff)}")
    return {"status": "failed" if diff["stale"] else "passed", **diff}


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
    held_out: HeldOutFigures | None = None,
) -> tuple[dict[str, Any], Change]:
    """Run the gate and make ``version`` current if it passes (or ``force``, recorded as such).

    ``held_out``: see :func:`evaluate_gate`.

    Raises :class:`GateRefused` (nothing changed) or :class:`LifecycleError`.
    """
    if current_version(repository) == version:
        raise LifecycleError(f"{version} is current already")
    try:
        report = evaluate_gate(
            repository, database_url, version, tolerance=tolerance, min_labels=min_labels, held_out=held_out
        )
    except (LookupError, FileNotFoundError) as exc:
        raise LifecycleError(str(exc)) from exc
    if not report["passed"] and not force:
        raise GateRefused(report)
    change = make_current(repository, version, by=by, reason=reason, forced=not report["passed"], gate=report)
    return report, change
