"""The demo's results: predictions and model versions of its submissions, tables, F1."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from rich.console import Console
from rich.table import Table

from shared.config import Settings

console = Console()


@dataclass(frozen=True)
class DemoResult:
    submitted: int
    predicted: int
    weighted_f1: float | None
    accuracy: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    dashboard_url: str
    model_version: str | None = None


def fetch_versions(url: str, ids: list[UUID]) -> dict[UUID, tuple[int, str]]:
    """(code, model version) of the stored predictions among ``ids``."""
    from sqlalchemy import select

    from shared.db.models import Prediction
    from shared.db.session import session_scope

    found: dict[UUID, tuple[int, str]] = {}
    with session_scope(url) as session:
        for start in range(0, len(ids), 500):
            query = select(Prediction.submission_id, Prediction.prdtypecode, Prediction.model_version).where(
                Prediction.submission_id.in_(ids[start : start + 500])
            )
            found.update({sid: (int(code), str(v)) for sid, code, v in session.execute(query)})
    return found


def weighted_f1_of(pairs: list[tuple[int | None, int]]) -> float | None:
    if not pairs:
        return None
    from sklearn.metrics import f1_score

    truth, pred = zip(*pairs, strict=True)
    return float(f1_score(truth, pred, average="weighted"))


def latency_percentiles(settings: Settings, ids: list[Any]) -> tuple[float | None, float | None]:
    """Submitted -> classified latency of the demo's predictions."""
    from sqlalchemy import select

    from shared.db.models import Prediction
    from shared.db.session import session_scope

    with session_scope(settings.effective_database_url) as session:
        rows = session.execute(
            select(Prediction.submitted_at, Prediction.classified_at).where(Prediction.submission_id.in_(ids))
        ).all()
    lat = sorted((c - s).total_seconds() * 1000 for s, c in rows if s is not None and c is not None)
    if not lat:
        return None, None
    return statistics.median(lat), lat[min(len(lat) - 1, int(0.95 * len(lat)))]


def report(result: DemoResult, settings: Settings) -> None:
    from sqlalchemy import func, select

    from shared.db.models import Category, Prediction
    from shared.db.session import session_scope

    with session_scope(settings.effective_database_url) as session:
        rows = session.execute(
            select(Category.prdtypecode, Category.label, func.count(Prediction.id))
            .join(Prediction, Prediction.prdtypecode == Category.prdtypecode)
            .group_by(Category.prdtypecode, Category.label)
            .order_by(func.count(Prediction.id).desc())
        ).all()
    table = Table(title="Predictions by category (all stored)")
    table.add_column("code", justify="right")
    table.add_column("category")
    table.add_column("predictions", justify="right")
    for code, label, count in rows:
        table.add_row(str(code), label, str(count))
    console.print(table)
    summary = Table(title="Demo run", show_header=False)
    summary.add_row("model version", result.model_version or "-")
    summary.add_row("offers submitted", str(result.submitted))
    summary.add_row("predictions stored", str(result.predicted))
    summary.add_row("weighted F1", fmt(result.weighted_f1))
    summary.add_row("accuracy", fmt(result.accuracy))
    summary.add_row(
        "latency p50 / p95 (ms)", f"{fmt(result.latency_p50_ms, 0)} / {fmt(result.latency_p95_ms, 0)}"
    )
    summary.add_row("dashboard", result.dashboard_url)
    console.print(summary)


def fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
