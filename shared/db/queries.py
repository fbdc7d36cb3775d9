"""Dashboard queries over stored predictions (DESIGN §1 users 3), PostgreSQL and SQLite.

Each returns plain JSON-ready dicts; the API serves them and ``catalog bench queries`` times
them on 100k predictions. Time arithmetic differs per dialect and is isolated in
:func:`_epoch`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, cast, func, select
from sqlalchemy.orm import Session, aliased

from shared.db.models import Category, Listing, Prediction
from shared.db.store import as_utc

STAGES: dict[str, tuple[str, str]] = {
    "language": ("submitted", "prepared"),
    "text_encoder": ("prepared", "text_encoded"),
    "image_encoder": ("submitted", "image_encoded"),
}


@dataclass(frozen=True)
class PredictionFilter:
    """Common filters of the dashboard: a time window on ``classified_at``, origin, version."""

    since: datetime | None = None
    until: datetime | None = None
    origin: str | None = None
    model_version: str | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.since is not None:
            query = query.where(Prediction.classified_at >= as_utc(self.since))
        if self.until is not None:
            query = query.where(Prediction.classified_at < as_utc(self.until))
        if self.origin is not None:
            query = query.where(Prediction.origin == self.origin)
        if self.model_version is not None:
            query = query.where(Prediction.model_version == self.model_version)
        return query


def _epoch(session: Session, column: Any) -> ColumnElement[float]:
    """Seconds since 1970 of a timestamp column (or of an ISO-8601 string on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", column)  # type: ignore[return-value]
    return (func.julianday(column) - 2440587.5) * 86400.0


def _stage_time(session: Session, stage: str) -> ColumnElement[Any]:
    """The ``stage`` timestamp from ``stage_timestamps`` (JSON) as something :func:`_epoch` reads."""
    value = Prediction.stage_timestamps[stage].as_string()
    if session.get_bind().dialect.name == "postgresql":
        return cast(value, Prediction.classified_at.type)
    return value


def _labels(session: Session) -> dict[int, str]:
    return {
        int(code): str(label) for code, label in session.execute(select(Category.prdtypecode, Category.label))
    }


def _iso(value: datetime | None) -> str | None:
    converted = as_utc(value)
    return converted.isoformat() if converted else None


def category_distribution(session: Session, flt: PredictionFilter) -> dict[str, Any]:
    """Predictions per category in the window (largest first), with labels and shares."""
    query = flt.apply(
        select(Prediction.prdtypecode, func.count().label("n"), func.avg(Prediction.confidence)).group_by(
            Prediction.prdtypecode
        )
    )
    rows = session.execute(query).all()
    labels = _labels(session)
    total = sum(int(n) for _, n, _ in rows)
    items = [
        {
            "prdtypecode": int(code),
            "label": labels.get(code, str(code)),
            "count": int(n),
            "share": round(int(n) / total, 6) if total else 0.0,
            "mean_confidence": round(float(conf or 0.0), 4),
        }
        for code, n, conf in sorted(rows, key=lambda r: (-int(r[1]), int(r[0])))
    ]
    return {"total": total, "categories": items}


def review_queue(
    session: Session,
    threshold: float,
    limit: int = 50,
    offset: int = 0,
    model_version: str | None = None,
) -> dict[str, Any]:
    """Listings whose current prediction is below ``threshold``, least confident first."""
    base = select(Listing).where(Listing.current_confidence < threshold)
    if model_version is not None:
        base = base.where(Listing.current_model_version == model_version)
    total = int(session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    rows = session.execute(
        base.add_columns(Category.label)
        .join(Category, Category.prdtypecode == Listing.current_prdtypecode)
        .order_by(Listing.current_confidence, Listing.listing_id)
        .limit(limit)
        .offset(offset)
    ).all()
    items = [
        {
            "listing_id": listing.listing_id,
            "title": listing.title,
            "image_uri": listing.image_uri,
            "prdtypecode": listing.current_prdtypecode,
            "label": label,
            "confidence": round(float(listing.current_confidence or 0.0), 4),
            "model_version": listing.current_model_version,
            "submission_id": str(listing.current_submission_id),
            "classified_at": _iso(listing.classified_at),
        }
        for listing, label in rows
    ]
    return {"threshold": threshold, "total": total, "items": items}


def throughput_and_lag(session: Session, flt: PredictionFilter, bucket_s: int = 60) -> dict[str, Any]:
    """Per time bucket: predictions written, end-to-end lag (submitted -> classified, mean and
    max) and writer lag; plus mean time per stage over the whole window."""
    classified = _epoch(session, Prediction.classified_at)
    submitted = _epoch(session, Prediction.submitted_at)
    written = _epoch(session, Prediction.written_at)
    bucket = func.floor(classified / bucket_s).label("bucket")
    lag = classified - submitted
    rows = session.execute(
        flt.apply(
            select(
                bucket,
                func.count().label("n"),
                func.avg(lag),
                func.max(lag),
                func.avg(written - classified),
            )
            .group_by(bucket)
            .order_by(bucket)
        )
    ).all()
    points = [
        {
            "t": datetime.fromtimestamp(float(b) * bucket_s, UTC).isoformat(),
            "count": int(n),
            "per_s": round(int(n) / bucket_s, 4),
            "lag_mean_s": _round(avg_lag),
            "lag_max_s": _round(max_lag),
            "writer_lag_mean_s": _round(writer_lag),
        }
        for b, n, avg_lag, max_lag, writer_lag in rows
    ]
    names = ("submitted", "prepared", "text_encoded", "image_encoded")
    at = {name: _epoch(session, _stage_time(session, name)) for name in names}
    greatest = func.greatest if session.get_bind().dialect.name == "postgresql" else func.max
    stage_cols = [func.avg(at[end] - at[start]) for start, end in STAGES.values()]
    # fusion: from the later of the two halves to the prediction (includes the join wait)
    fusion = func.avg(classified - greatest(at["text_encoded"], at["image_encoded"]))
    query = select(*stage_cols, fusion, func.avg(written - classified), func.avg(lag)).select_from(Prediction)
    stage_row = session.execute(flt.apply(query)).one()
    columns = [*STAGES, "fusion", "writer", "total"]
    stages = {name: _round(value) for name, value in zip(columns, stage_row, strict=True)}
    return {"bucket_s": bucket_s, "points": points, "stage_mean_s": stages}


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def version_agreement(session: Session, version_a: str, version_b: str, top: int = 10) -> dict[str, Any]:
    """How often two model versions agree on the same listings (latest prediction of each),
    and the most frequent disagreements (a's code -> b's code)."""

    def latest(version: str) -> Any:
        return (
            select(Prediction.listing_id, func.max(Prediction.id).label("pid"))
            .where(Prediction.model_version == version)
            .group_by(Prediction.listing_id)
            .subquery()
        )

    la, lb = latest(version_a), latest(version_b)
    pa, pb = aliased(Prediction), aliased(Prediction)
    rows = session.execute(
        select(pa.prdtypecode, pb.prdtypecode, func.count())
        .select_from(la)
        .join(lb, lb.c.listing_id == la.c.listing_id)
        .join(pa, pa.id == la.c.pid)
        .join(pb, pb.id == lb.c.pid)
        .group_by(pa.prdtypecode, pb.prdtypecode)
    ).all()
    labels = _labels(session)
    compared = sum(int(n) for _, _, n in rows)
    agreed = sum(int(n) for a, b, n in rows if a == b)
    changes = sorted(
        ((int(n), int(a), int(b)) for a, b, n in rows if a != b), key=lambda r: (-r[0], r[1], r[2])
    )
    return {
        "version_a": version_a,
        "version_b": version_b,
        "compared": compared,
        "agreed": agreed,
        "agreement": round(agreed / compared, 6) if compared else None,
        "top_changes": [
            {
                "from": a,
                "from_label": labels.get(a, str(a)),
                "to": b,
                "to_label": labels.get(b, str(b)),
                "count": n,
            }
            for n, a, b in changes[:top]
        ],
    }


def model_versions_seen(session: Session) -> list[dict[str, Any]]:
    """Versions present in predictions, with counts and time span (for the dashboard filters)."""
    rows = session.execute(
        select(
            Prediction.model_version,
            func.count(),
            func.min(Prediction.classified_at),
            func.max(Prediction.classified_at),
        ).group_by(Prediction.model_version)
    ).all()
    return [
        {"model_version": v, "count": int(n), "first": _iso(first), "last": _iso(last)}
        for v, n, first, last in sorted(rows, key=lambda r: str(r[3]), reverse=True)
    ]


def listing_detail(session: Session, listing_id: str, history: int = 50) -> dict[str, Any] | None:
    """A listing's content, current category and prediction history (newest first)."""
    listing = session.get(Listing, listing_id)
    if listing is None:
        return None
    preds = session.scalars(
        select(Prediction)
        .where(Prediction.listing_id == listing_id)
        .order_by(Prediction.classified_at.desc(), Prediction.id.desc())
        .limit(history)
    ).all()
    label = session.get(Category, listing.current_prdtypecode) if listing.current_prdtypecode else None
    return {
        "listing_id": listing.listing_id,
        "title": listing.title,
        "description": listing.description,
        "image_uri": listing.image_uri,
        "created_at": _iso(listing.created_at),
        "updated_at": _iso(listing.updated_at),
        "current": None
        if listing.current_prdtypecode is None
        else {
            "prdtypecode": listing.current_prdtypecode,
            "label": label.label if label else str(listing.current_prdtypecode),
            "confidence": listing.current_confidence,
            "model_version": listing.current_model_version,
            "submission_id": str(listing.current_submission_id),
            "classified_at": _iso(listing.classified_at),
        },
        "history": [prediction_view(p) for p in preds],
    }


def prediction_view(p: Prediction) -> dict[str, Any]:
    return {
        "submission_id": str(p.submission_id),
        "origin": p.origin,
        "job_id": str(p.job_id) if p.job_id else None,
        "prdtypecode": p.prdtypecode,
        "confidence": p.confidence,
        "top_k": p.top_k,
        "modalities": [m for m in p.modalities.split(",") if m],
        "model_version": p.model_version,
        "model_versions": p.model_versions,
        "language": p.language,
        "translation_status": p.translation_status,
        "image_missing_reason": p.image_missing_reason,
        "submitted_at": _iso(p.submitted_at),
        "classified_at": _iso(p.classified_at),
        "written_at": _iso(p.written_at),
    }
