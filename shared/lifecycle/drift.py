"""Drift of live traffic against what the current model was trained on (docs/architecture.md §10).

Four signals, each a Population Stability Index (PSI) between the recent window's distribution
and a reference:

- ``class_shares``: predicted categories vs the training class shares (manifest);
- ``confidence``: top-1 confidence histogram vs the held-out one (manifest);
- ``language``: detected language mix vs the manifest's, else vs the baseline period;
- ``no_photo``: share of offers without a usable photo vs the held-out share, else baseline.

The baseline period is the ``baseline_s`` before the windows looked at (live predictions of any
version), used for a signal the manifest lacks (older manifests, or languages that training
never detected). PSI = sum (p - q) ln(p / q), zero shares smoothed to ``EPSILON``. Usual reading:
below 0.1 stable, 0.1-0.25 moderate shift (``warn``), above 0.25 major shift (``alert``). A
window with fewer than ``min_samples`` predictions is ``insufficient``, never an alert.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.contract import utcnow
from shared.db.drift_signals import CONFIDENCE_EDGES, signal_columns
from shared.db.listings import to_utc
from shared.db.models import DriftCount, Prediction, PredictionCount
from shared.db.windows import Part, window_parts
from shared.ml.model_repo import DriftReference, Manifest, read_manifest

EPSILON = 1e-4
SIGNALS = ("class_shares", "confidence", "language", "no_photo")


def psi(recent: Mapping[str, float], reference: Mapping[str, float], eps: float = EPSILON) -> float:
    """Population Stability Index of two distributions over the union of their keys."""
    keys = sorted(set(recent) | set(reference))
    if not keys:
        return 0.0
    p = np.array([max(float(recent.get(k, 0.0)), eps) for k in keys])
    q = np.array([max(float(reference.get(k, 0.0)), eps) for k in keys])
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum((p - q) * np.log(p / q)))


def normalise(counts: Mapping[str, float]) -> dict[str, float]:
    total = float(sum(counts.values()))
    return {k: v / total for k, v in counts.items()} if total else {}


def confidence_shares(confidences: Sequence[float] | np.ndarray) -> list[float]:
    """Share of top-1 confidences per bin of :data:`CONFIDENCE_EDGES` (the last bin is closed)."""
    counts, _ = np.histogram(np.clip(np.asarray(confidences, dtype=float), 0.0, 1.0), CONFIDENCE_EDGES)
    total = counts.sum()
    return [round(float(c) / total, 6) if total else 0.0 for c in counts]


def training_reference(
    class_counts: Mapping[str, int], confidences: np.ndarray, has_image: np.ndarray | None
) -> DriftReference:
    """The manifest's drift reference, from a training run's class counts and held-out scores."""
    return DriftReference(
        class_shares={k: round(v, 6) for k, v in normalise(dict(class_counts)).items()},
        confidence_edges=list(CONFIDENCE_EDGES),
        confidence_shares=confidence_shares(confidences),
        no_photo_share=None
        if has_image is None or not len(has_image)
        else round(1 - float(np.mean(has_image)), 6),
    )


def _raw_counts(
    session: Session, start: datetime | None, end: datetime | None, version: str | None
) -> dict[str, Counter[str]]:
    """Per signal, counts of live ingested predictions in [start, end), read from the predictions."""
    where = [Prediction.shadow.is_(False), Prediction.origin == "ingest"]
    if start is not None:
        where.append(Prediction.classified_at >= to_utc(start))
    if end is not None:
        where.append(Prediction.classified_at < to_utc(end))
    versioned = [*where, Prediction.model_version == version] if version else where

    def grouped(column: Any, conditions: list[Any]) -> Counter[str]:
        rows = session.execute(select(column, func.count()).where(*conditions).group_by(column))
        return Counter({str(key): int(n) for key, n in rows})

    columns = signal_columns(Prediction)
    return {
        "class_shares": grouped(Prediction.prdtypecode, versioned),
        "confidence": grouped(columns["confidence"], versioned),
        "language": grouped(columns["language"], where),
        "no_photo": grouped(columns["no_photo"], where),
    }


def _rolled_counts(session: Session, part: Part, version: str | None) -> dict[str, Counter[str]]:
    """The same counts over whole buckets of width ``part.span_s``, from the writer's rollups."""
    d, c = DriftCount, PredictionCount
    out: dict[str, Counter[str]] = {signal: Counter() for signal in SIGNALS}

    def bounded(table: Any) -> list[Any]:
        where = [table.span_s == part.span_s]
        if part.start is not None:
            where.append(table.bucket_start >= to_utc(part.start))
        if part.end is not None:
            where.append(table.bucket_start < to_utc(part.end))
        return where

    classes = select(c.prdtypecode, func.sum(c.count)).where(
        *bounded(c),
        c.shadow.is_(False),
        c.origin == "ingest",
        *([c.model_version == version] if version else []),
    )
    for code, n in session.execute(classes.group_by(c.prdtypecode)):
        out["class_shares"][str(code)] += int(n)
    signals = select(d.signal, d.value, d.model_version, func.sum(d.count)).where(*bounded(d))
    for signal, value, model_version, n in session.execute(
        signals.group_by(d.signal, d.value, d.model_version)
    ):
        if signal == "confidence" and version and model_version != version:
            continue  # class shares and confidence are the model's; language and photos any version's
        out[signal][str(value)] += int(n)
    return out


def window_counts(
    session: Session, start: datetime, end: datetime, version: str | None
) -> dict[str, Counter[str]]:
    """Per signal, counts of live (non-shadow) ingested predictions in [start, end): whole days,
    hours and minutes from the writer's rollups (``drift_counts``, ``prediction_counts``), the
    seconds at either edge from the predictions (a week's baseline reads a few hundred rows)."""
    total: dict[str, Counter[str]] = {signal: Counter() for signal in SIGNALS}
    for part in window_parts(to_utc(start), to_utc(end)):
        counts = (
            _raw_counts(session, part.start, part.end, version)
            if part.span_s == 0
            else _rolled_counts(session, part, version)
        )
        for signal in SIGNALS:
            total[signal].update(counts[signal])
    return {signal: Counter({k: n for k, n in c.items() if n}) for signal, c in total.items()}


def manifest_reference(manifest: Manifest | None) -> dict[str, dict[str, float]]:
    """The reference distributions a manifest provides (older manifests: class counts only)."""
    out: dict[str, dict[str, float]] = {}
    if manifest is None:
        return out
    ref = manifest.reference
    counts = manifest.training.get("class_counts")
    if ref is not None and ref.class_shares:
        out["class_shares"] = dict(ref.class_shares)
    elif isinstance(counts, dict) and counts:
        out["class_shares"] = normalise({str(k): float(v) for k, v in counts.items()})
    if ref is not None and ref.confidence_shares and ref.confidence_edges == CONFIDENCE_EDGES:
        out["confidence"] = {str(i): s for i, s in enumerate(ref.confidence_shares)}
    if ref is not None and ref.languages:
        out["language"] = dict(ref.languages)
    if ref is not None and ref.no_photo_share is not None:
        out["no_photo"] = {"no_photo": ref.no_photo_share, "photo": 1 - ref.no_photo_share}
    return out


def _status(value: float, n: int, warn: float, alert: float, min_samples: int) -> str:
    if n < min_samples:
        return "insufficient"
    return "alert" if value >= alert else "warn" if value >= warn else "ok"


def drift_report(
    session: Session,
    manifest: Manifest | None,
    *,
    now: datetime,
    window_s: int = 3600,
    windows: int = 1,
    baseline_s: int = 7 * 86400,
    warn: float = 0.1,
    alert: float = 0.25,
    min_samples: int = 50,
) -> dict[str, Any]:
    """Drift of the last ``windows`` windows of ``window_s`` (the latest one first)."""
    version = manifest.version if manifest else None
    series_start = now - timedelta(seconds=window_s * windows)
    from_manifest = manifest_reference(manifest)
    baseline: dict[str, Counter[str]] = {}
    if any(signal not in from_manifest for signal in SIGNALS):  # a week of predictions: only if needed
        baseline = window_counts(session, series_start - timedelta(seconds=baseline_s), series_start, version)
    references: dict[str, tuple[str, dict[str, float], int]] = {}
    for signal in SIGNALS:
        if signal in from_manifest:
            references[signal] = ("training", from_manifest[signal], 0)
        else:
            seen = baseline[signal]
            references[signal] = ("baseline", normalise(dict(seen)), sum(seen.values()))
    out_windows = []
    for k in range(windows):
        end = now - timedelta(seconds=window_s * k)
        start = end - timedelta(seconds=window_s)
        counts = window_counts(session, start, end, version)
        signals: dict[str, Any] = {}
        for signal in SIGNALS:
            source, expected, n_ref = references[signal]
            observed = normalise(dict(counts[signal]))
            n = int(sum(counts[signal].values()))
            usable = bool(expected) and (source == "training" or n_ref >= min_samples)
            value = psi(observed, expected) if usable and n else 0.0
            status = _status(value, n, warn, alert, min_samples) if usable else "insufficient"
            signals[signal] = {
                "psi": round(value, 4),
                "status": status,
                "reference": source,
                "n": n,
                "n_reference": n_ref if source == "baseline" else None,
                "recent": _top(observed),
                "expected": _top(expected),
            }
        scored = [s["psi"] for s in signals.values() if s["status"] != "insufficient"]
        score = max(scored) if scored else None
        out_windows.append(
            {
                "start": to_utc(start).isoformat(),
                "end": to_utc(end).isoformat(),
                "score": score,
                "alert": score is not None and score >= alert,
                "signals": signals,
            }
        )
    latest = out_windows[0]
    return {
        "model_version": version,
        "window_s": window_s,
        "baseline_s": baseline_s,
        "thresholds": {"warn": warn, "alert": alert, "min_samples": min_samples},
        "score": latest["score"],
        "alert": latest["alert"],
        "signals": latest["signals"],
        "windows": out_windows,
    }


def compute_drift(
    settings: Settings, session: Session, window_s: int | None = None, windows: int = 1
) -> dict[str, Any]:
    """:func:`drift_report` of the current model with the settings' window and thresholds (the
    API's schedule and route, and ``catalog drift``)."""
    return drift_report(
        session,
        _current_manifest(settings),
        now=utcnow(),
        window_s=window_s or settings.drift_window_s,
        windows=windows,
        baseline_s=settings.drift_baseline_s,
        warn=settings.drift_warn_psi,
        alert=settings.drift_alert_psi,
        min_samples=settings.drift_min_samples,
    )


def _current_manifest(settings: Settings) -> Manifest | None:
    try:
        return read_manifest(settings.model_repository)
    except (FileNotFoundError, ValueError):
        return None


def _top(shares: Mapping[str, float], n: int = 8) -> dict[str, float]:
    best = sorted(shares.items(), key=lambda item: (-item[1], item[0]))[:n]
    return {k: round(v, 4) for k, v in best if not math.isnan(v)}
