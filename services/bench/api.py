"""``catalog bench queries``: every dashboard and API read timed (p50/p95/p99) on millions of
predictions seeded in bulk (services.bench.seed_bulk) in a PostgreSQL database of its own,
with each statement's ``EXPLAIN (ANALYZE, BUFFERS)`` plan saved beside the JSON."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from services.api import queries
from services.api.auto_accept import auto_acceptance
from services.bench.seed_bulk import SeedSpec, seed_bulk
from shared.contract import utcnow
from shared.db.jobs import list_jobs
from shared.db.models import Listing, Prediction
from shared.db.quality import live_quality, paired_quality, recent_labels, shadow_agreement
from shared.db.session import engine_for, scratch_database, session_scope, upgrade
from shared.lifecycle.drift import drift_report
from shared.taxonomy.store import assignable_categories, directory

GOAL_MS = 200.0
TABLES = (
    *("predictions", "listings", "submissions", "prediction_minutes", "prediction_counts"),
    *("version_pair_counts", "shadow_pair_counts", "drift_counts"),
)
QUEUE_GOAL_MS = 100.0


def _cursor_at(session: Session, depth: int) -> str:
    """The review queue's ``next_after`` ``depth`` listings down (setup, not timed)."""
    row = session.execute(
        select(Listing.current_confidence, Listing.listing_id)
        .where(Listing.current_confidence.is_not(None))
        .order_by(Listing.current_confidence, Listing.listing_id)
        .offset(depth)
        .limit(1)
    ).one()
    return f"{float(row[0] or 0.0)!r}|{row[1]}"


def dashboard_cases(session: Session, threshold: float) -> dict[str, Callable[[Session], Any]]:
    """Each read as the dashboard or API calls it (defaults of the routes; the dashboard's page)."""
    now = utcnow()
    day, week = now - timedelta(days=1), now - timedelta(days=8)
    odd = queries.PredictionFilter(
        since=now - timedelta(days=3, hours=7, seconds=807), until=now - timedelta(seconds=3723)
    )
    deep = _cursor_at(
        session, min(100_000, int(session.scalar(select(func.count()).select_from(Listing)) or 1) // 2)
    )
    listing = session.scalar(select(Listing.listing_id).order_by(Listing.listing_id).offset(1234).limit(1))
    department = next(code for code, info in sorted(directory(session).items()) if not info.leaf)
    flt = queries.PredictionFilter
    return {
        "distribution_7d": lambda s: queries.category_distribution(s, flt(since=week)),
        "distribution_all_time": lambda s: queries.category_distribution(s, flt()),
        "distribution_24h_version": lambda s: queries.category_distribution(
            s, flt(since=day, model_version="r2")
        ),
        "distribution_7d_origin": lambda s: queries.category_distribution(
            s, flt(since=week, origin="reclassify")
        ),
        "distribution_odd_window": lambda s: queries.category_distribution(s, odd),
        "distribution_departments": lambda s: queries.category_distribution(s, flt(since=week), level=1),
        "distribution_drill_down": lambda s: queries.category_distribution(
            s, flt(since=week), parent=department
        ),
        "distribution_shadow": lambda s: queries.category_distribution(s, flt(since=week, shadow=True)),
        "review_queue_dashboard": lambda s: queries.review_queue(s, threshold, limit=8),
        "review_queue_page": lambda s: queries.review_queue(s, threshold, limit=50),
        "review_queue_keyset_deep": lambda s: queries.review_queue(s, threshold, limit=50, after=deep),
        "review_queue_version": lambda s: queries.review_queue(s, threshold, limit=50, model_version="r2"),
        "review_queue_offset_1000": lambda s: queries.review_queue(s, threshold, limit=50, offset=1000),
        "throughput_1h_1min": lambda s: queries.throughput_and_lag(
            s, flt(since=now - timedelta(hours=1)), 60
        ),
        "throughput_24h_5min": lambda s: queries.throughput_and_lag(s, flt(since=day), 300),
        "throughput_7d_1h": lambda s: queries.throughput_and_lag(s, flt(since=week), 3600),
        "version_agreement": lambda s: queries.version_agreement(s, "r1", "r2"),
        "versions_seen": queries.model_versions_seen,
        "listing_detail": lambda s: queries.listing_detail(s, listing or ""),
        "auto_accept": lambda s: auto_acceptance(s, 0.98),
        "quality": lambda s: (live_quality(s), recent_labels(s, 10)),
        "shadow": lambda s: (shadow_agreement(s), paired_quality(s, "r2", "r3")),
        "drift_1h": lambda s: drift_report(s, None, now=utcnow(), window_s=3600),
        "categories": lambda s: assignable_categories(s, False),
        "jobs": lambda s: list_jobs(s, 10),
    }


def goal_of(name: str) -> float:
    return QUEUE_GOAL_MS if name.startswith("review_queue") else GOAL_MS


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def time_cases(url: str, cases: dict[str, Callable[[Session], Any]], repeats: int) -> dict[str, Any]:
    """``repeats`` timed runs per read after one warm-up, each in a fresh transaction (the
    Python + SQLAlchemy + psycopg round trip included, as the API pays it)."""
    results: dict[str, Any] = {}
    for name, fn in cases.items():
        timings = []
        for attempt in range(repeats + 1):
            with session_scope(url) as session:
                started = time.perf_counter()
                fn(session)
                elapsed = (time.perf_counter() - started) * 1000
            if attempt:
                timings.append(elapsed)
        p95 = _percentile(timings, 0.95)
        results[name] = {
            "p50_ms": round(statistics.median(timings), 2),
            "p95_ms": round(p95, 2),
            "p99_ms": round(_percentile(timings, 0.99), 2),
            "max_ms": round(max(timings), 2),
            "runs": repeats,
            "goal_ms": goal_of(name),
            "under_goal": p95 < goal_of(name),
        }
    return results


@contextmanager
def _statements(url: str) -> Iterator[list[tuple[str, Any]]]:
    """Every SQL statement (with its parameters) run on ``url``'s engine inside the block."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if not statement.lstrip().upper().startswith(("EXPLAIN", "SHOW", "SELECT PG_")):
            seen.append((statement, parameters))

    engine = engine_for(url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def explain_cases(url: str, cases: dict[str, Callable[[Session], Any]]) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of every statement each read runs, as one text report."""
    out: list[str] = []
    for name, fn in cases.items():
        with _statements(url) as seen, session_scope(url) as session:
            fn(session)
        out.append(f"=== {name}: {len(seen)} statement(s)")
        settings: list[tuple[str, Any]] = []  # the read's own SET LOCALs, replayed before each plan
        for statement, parameters in seen:
            if statement.lstrip().upper().startswith("SET "):
                settings.append((statement, parameters))
                out.append(f"--- {statement} (applied before the plans below)\n")
                continue
            with engine_for(url).connect() as conn:
                raw = conn.connection.driver_connection
                assert raw is not None
                with raw.cursor() as cursor:
                    for setting, setting_parameters in settings:
                        cursor.execute(setting, setting_parameters)
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    plan = "\n".join(str(row[0]) for row in cursor.fetchall())
            out.append(f"--- {' '.join(statement.split())[:600]}\n{plan}\n")
    return "\n".join(out)


def run_bench(
    admin_url: str,
    n_predictions: int = 100_000,
    repeats: int = 30,
    threshold: float = 0.6,
    database_url: str | None = None,
    progress: Callable[[str, int], None] | None = None,
    seed_only: bool = False,
) -> tuple[dict[str, Any], str]:
    """Seed (unless ``database_url`` already holds predictions: it is reused and kept), time every
    read, explain each; the JSON result and the plans' text. ``seed_only``: stop after seeding (10M
    predictions take longer to seed than one bench-lock hold should last, so timing is a second run)."""
    if database_url is None:
        with scratch_database(admin_url, "catalog_bench") as url:
            return _measure(url, n_predictions, repeats, threshold, progress)
    return _measure(database_url, n_predictions, repeats, threshold, progress, seed_only)


def _measure(
    url: str,
    n_predictions: int,
    repeats: int,
    threshold: float,
    progress: Callable[[str, int], None] | None,
    seed_only: bool = False,
) -> tuple[dict[str, Any], str]:
    upgrade(url)
    with session_scope(url) as session:
        stored = int(session.scalar(select(func.count()).select_from(Prediction)) or 0)
    seeding: dict[str, Any] = {"reused": True}
    if not stored:
        load_before = os.getloadavg()
        started = time.perf_counter()
        seeding = dict[str, Any](
            seed_bulk(url, SeedSpec(n_predictions, max(1, n_predictions // 2)), progress=progress)
        )
        seeding["total_s"] = round(time.perf_counter() - started, 1)
        seeding["predictions"] = n_predictions
        seeding["load_avg_1_5_15_before"] = [round(x, 2) for x in load_before]
        seeding["load_avg_1_5_15_after"] = [round(x, 2) for x in os.getloadavg()]
        seeding["seeded_at"] = utcnow().isoformat()
    if seed_only:
        return {"benchmark": "dashboard and API reads: seeding only", "seeding": seeding}, ""
    with engine_for(url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))  # the steady state autovacuum keeps
        version = conn.execute(text("SHOW server_version")).scalar()
        sizes = {
            table: int(conn.execute(text(f"SELECT pg_total_relation_size('{table}')")).scalar_one())
            for table in TABLES
        }
        rows = {
            table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()) for table in sizes
        }
    with session_scope(url) as session:
        cases = dashboard_cases(session, threshold)
    load_before = os.getloadavg()
    results = time_cases(url, cases, repeats)
    load_after = os.getloadavg()
    plans = explain_cases(url, cases)
    result = {
        "benchmark": "dashboard and API reads",
        "goal_ms": GOAL_MS,
        "review_queue_goal_ms": QUEUE_GOAL_MS,
        "predictions": rows["predictions"],
        "listings": rows["listings"],
        "seeding": seeding,
        "table_rows": rows,
        "table_bytes": sizes,
        "bytes_per_prediction": round(sizes["predictions"] / max(1, rows["predictions"]), 1),
        "postgres": version,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_1_5_15_before": [round(x, 2) for x in load_before],  # shared machine: context
            "load_avg_1_5_15_after": [round(x, 2) for x in load_after],
        },
        "measured_at": utcnow().isoformat(),
        "queries": results,
        "all_under_goal": all(r["under_goal"] for r in results.values()),
    }
    return result, plans
