"""Model lifecycle in the API: reviewers' labels, live quality, drift, shadow agreement.

``refresh_monitoring`` computes drift, live quality, auto-accept precision and shadow agreement
and sets the Prometheus gauges; the API runs it every ``CATALOG_DRIFT_INTERVAL_S``
(``monitor_forever``), and only then: ``GET /v1/stats/drift`` reads (any window a reader picks)
but never moves the gauges
or the alert, so no reader can silence it. Its reports are cached ``CATALOG_DRIFT_CACHE_S`` and
its computations counted against ``CATALOG_API_EXPENSIVE_PER_MINUTE``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.concurrency import run_in_threadpool

from services.api.auto_accept import auto_acceptance
from shared.db.quality import (
    LabelError,
    live_quality,
    paired_quality,
    recent_labels,
    record_label,
    shadow_agreement,
)
from shared.db.session import session_scope
from shared.lifecycle.drift import compute_drift
from shared.lifecycle.state import current_version, read_state
from shared.taxonomy.store import assignable_categories

from .deps import DbSession
from .schemas import ErrorOut, LabelIn, ListingIdPath
from .state import ApiState, Metrics, State, WriteAccess

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", responses={422: {"model": ErrorOut}})


@router.post(
    "/listings/{listing_id}/label",
    status_code=201,
    dependencies=[WriteAccess],
    responses={
        401: {"model": ErrorOut},
        404: {"model": ErrorOut, "description": "No such listing."},
        409: {
            "model": ErrorOut,
            "description": "The code is not a live leaf of the current taxonomy (unknown, retired, "
            "merged or a department: the message says which), or the submission is not a "
            "prediction of this listing.",
        },
    },
    summary="Record a reviewer's category for a listing (accepts or corrects its prediction)",
)
def post_label(listing_id: ListingIdPath, body: LabelIn, session: DbSession) -> dict[str, Any]:
    """The label is the listing's ground truth from now on: live quality scores every model
    version against it, and ``catalog export-labels`` exports it for retraining. The listing
    leaves the review queue (until a new prediction replaces the one reviewed)."""
    try:
        return record_label(
            session, listing_id, body.prdtypecode, body.reviewer, body.note, body.submission_id
        )
    except LabelError as exc:
        raise HTTPException(exc.status, str(exc)) from exc


@router.get("/categories", summary="Product type codes a reviewer can choose, with names and paths")
def categories(
    session: DbSession,
    include_all: Annotated[
        bool,
        Query(alias="all", description="Every stored code: departments, retired, merged and unknown too."),
    ] = False,
) -> list[dict[str, Any]]:
    """The live leaves of the current taxonomy (``name``, ``path`` "Maison > Décoration",
    ``status``, ``level``); ``label`` is the name, kept for older clients."""
    return assignable_categories(session, include_all)


@router.get("/stats/quality", summary="Live quality per model version over reviewer-labelled listings")
def quality(session: DbSession, recent: Annotated[int, Query(ge=0, le=100)] = 10) -> dict[str, Any]:
    """Weighted F1 (bootstrap 95% interval) and accuracy (Wilson 95% interval) of each model
    version's latest prediction of every labelled listing, with counts."""
    return {**live_quality(session), "recent": recent_labels(session, recent)}


@router.get(
    "/stats/auto-accept", summary="Auto-accepted predictions per model version: coverage, live precision"
)
def auto_accept(state: State, session: DbSession) -> dict[str, Any]:
    """Per model version: the share of its predictions decided `auto` (coverage) and the precision
    of the reviewer-labelled `auto` ones, both with Wilson 95% intervals, against
    CATALOG_AUTO_ACCEPT_PRECISION; ``below_target`` when the interval lies under the target."""
    target = state.settings.auto_accept_precision
    return {"target_precision": target, "versions": auto_acceptance(session, target)}


def set_auto_accept_gauges(metrics: Metrics, versions: list[dict[str, Any]]) -> None:
    for v in versions:
        version = v["model_version"]
        metrics.auto_coverage.labels(version).set(v["coverage"] or 0.0)
        metrics.auto_reviewed.labels(version).set(v["reviewed_auto"])
        if v["precision"] is not None:
            metrics.auto_precision.labels(version).set(v["precision"])
        metrics.auto_below_target.labels(version).set(1.0 if v["below_target"] else 0.0)


def set_drift_gauges(metrics: Metrics, report: dict[str, Any]) -> None:
    for signal, body in report["signals"].items():
        metrics.drift_psi.labels(signal).set(body["psi"] if body["status"] != "insufficient" else 0.0)
    metrics.drift_score.set(report["score"] or 0.0)
    metrics.drift_alert.set(1.0 if report["alert"] else 0.0)


@router.get(
    "/stats/drift",
    summary="Drift of recent live predictions against the training reference",
    responses={429: {"model": ErrorOut, "description": "Too many reports computed this minute."}},
)
def drift(
    state: State,
    session: DbSession,
    response: Response,
    window_s: Annotated[
        int | None, Query(ge=60, le=30 * 86400, description="Default: CATALOG_DRIFT_WINDOW_S.")
    ] = None,
    windows: Annotated[int, Query(ge=1, le=48, description="How many windows back.")] = 1,
) -> dict[str, Any]:
    """PSI per signal (class shares, top-1 confidence, language mix, share without a photo) of the
    latest ``windows`` windows of live predictions of the current model; thresholds included.
    Cached ``CATALOG_DRIFT_CACHE_S`` per query (``X-Cache``); the Prometheus gauges and alert
    come from the API's scheduled computation only, never from this read."""
    key = (window_s or state.settings.drift_window_s, windows)
    report = state.drift_reports.get(key)
    response.headers["X-Cache"] = "miss" if report is None else "hit"
    if report is None:
        state.expensive.admit("drift reports")
        report = compute_drift(state.settings, session, *key)
        state.drift_reports.put(key, report)
    return report  # type: ignore[no-any-return]


@router.get("/stats/shadow", summary="The shadow candidate: agreement with the live model, labelled quality")
def shadow(state: State, session: DbSession) -> dict[str, Any]:
    repository = state.settings.model_repository
    config = read_state(repository).shadow if repository.exists() else None
    current = current_version(repository) if repository.exists() else None
    agreement = shadow_agreement(session)
    candidate = config.version if config else None
    return {
        "current": current,
        "shadow": config.model_dump(mode="json") if config else None,
        "agreement": agreement["pairs"],
        "labelled": paired_quality(session, current, candidate) if current and candidate else None,
    }


def refresh_monitoring(state: ApiState) -> dict[str, Any]:
    """Drift, live quality, auto-accept precision and shadow agreement into the Prometheus
    gauges (blocking; on the schedule only, never on a GET)."""
    with session_scope(state.settings.effective_database_url) as session:
        report = compute_drift(state.settings, session)
        quality_now = live_quality(session)
        agreement = shadow_agreement(session)
        auto = auto_acceptance(session, state.settings.auto_accept_precision)
    set_drift_gauges(state.metrics, report)
    set_auto_accept_gauges(state.metrics, auto)
    for version in quality_now["versions"]:
        state.metrics.live_f1.labels(version["model_version"]).set(version["weighted_f1"] or 0.0)
        state.metrics.live_labelled.labels(version["model_version"]).set(version["n"])
    for pair in agreement["pairs"]:
        state.metrics.shadow_agreement.labels(pair["live_version"], pair["shadow_version"]).set(
            pair["agreement"] or 0.0
        )
    state.last_drift = report
    state.drift_reports.put((state.settings.drift_window_s, 1), report)
    return report


async def monitor_forever(state: ApiState) -> None:
    """The scheduled drift computation (every ``CATALOG_DRIFT_INTERVAL_S``)."""
    interval = state.settings.drift_interval_s
    while True:
        try:
            report = await run_in_threadpool(refresh_monitoring, state)
            if report["alert"]:
                log.warning(
                    "model drift alert", extra={"score": report["score"], "model": report["model_version"]}
                )
        except Exception as exc:  # a database hiccup must not end the schedule
            log.warning("drift computation failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        await asyncio.sleep(interval)
