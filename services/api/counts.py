"""Reads of ``prediction_counts`` (the writer's per-category counts per minute, hour and day):
the category distribution over any window, versions seen and auto-accept coverage without
counting millions of predictions (docs/benchmarks/queries.md).

A window ``[since, until)`` is read exactly: whole days from day rows, the whole hours at its
edges from hour rows, the whole minutes from minute rows and the seconds left at either end
from the predictions themselves (at most two partial minutes, through the time index).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from shared.db.listings import as_utc
from shared.db.models import COUNT_SPANS, Prediction, PredictionCount
from shared.db.windows import Part, window_parts


@dataclass(frozen=True)
class CountFilter:
    """The keys a dashboard filters on (a subset of ``queries.PredictionFilter``)."""

    since: datetime | None = None
    until: datetime | None = None
    origin: str | None = None
    model_version: str | None = None
    shadow: bool = False


def _conditions(table: Any, flt: CountFilter, part: Part, at: Any) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [table.shadow.is_(flt.shadow)]
    if flt.origin is not None:
        where.append(table.origin == flt.origin)
    if flt.model_version is not None:
        where.append(table.model_version == flt.model_version)
    if part.start is not None:
        where.append(at >= as_utc(part.start))
    if part.end is not None:
        where.append(at < as_utc(part.end))
    return where


def counts_by_code(session: Session, flt: CountFilter) -> dict[int, tuple[int, float]]:
    """Per predicted code: (predictions, sum of confidences) in the filter's window."""
    out: dict[int, tuple[int, float]] = {}
    since, until = as_utc(flt.since), as_utc(flt.until)
    for part in window_parts(since, until):
        if part.span_s == 0:
            p = Prediction
            query = select(p.prdtypecode, func.count(), func.sum(p.confidence)).group_by(p.prdtypecode)
            query = query.where(*_conditions(p, flt, part, p.classified_at))
        else:
            c = PredictionCount
            query = select(c.prdtypecode, func.sum(c.count), func.sum(c.confidence_sum)).group_by(
                c.prdtypecode
            )
            query = query.where(c.span_s == part.span_s, *_conditions(c, flt, part, c.bucket_start))
        for code, n, conf in session.execute(query):
            before = out.get(int(code), (0, 0.0))
            out[int(code)] = (before[0] + int(n), before[1] + float(conf or 0.0))
    return out


def versions_seen(session: Session) -> list[tuple[str, int, datetime, datetime]]:
    """(version, predictions, first, last classification) from the day rows (shadow included)."""
    c = PredictionCount
    rows = session.execute(
        select(c.model_version, func.sum(c.count), func.min(c.first_at), func.max(c.last_at))
        .where(c.span_s == COUNT_SPANS[-1])
        .group_by(c.model_version)
    ).all()
    return [(str(v), int(n), first, last) for v, n, first, last in rows]


def decisions_per_version(session: Session) -> list[tuple[str, str, int]]:
    """(version, decision, live predictions) over all time, predictions with a decision only."""
    c = PredictionCount
    rows = session.execute(
        select(c.model_version, c.decision, func.sum(c.count))
        .where(c.span_s == COUNT_SPANS[-1], c.decision != "", c.shadow.is_(False))
        .group_by(c.model_version, c.decision)
    ).all()
    return [(str(v), str(d), int(n)) for v, d, n in rows]
