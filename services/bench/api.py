"""``catalog bench queries``: time every dashboard query on 100k seeded predictions in a
PostgreSQL database of its own (created, then dropped)."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from services.api import queries
from services.bench.seed import seed_database
from shared.contract import utcnow
from shared.db.models import Prediction
from shared.db.session import engine_for, scratch_database, session_scope, upgrade

GOAL_MS = 200.0


def dashboard_cases(threshold: float) -> dict[str, Callable[[Session], Any]]:
    """Each query as the dashboard calls it (the API's default parameters)."""
    now = utcnow()
    day, week = now - timedelta(days=1), now - timedelta(days=8)
    return {
        "distribution_all": lambda s: queries.category_distribution(s, queries.PredictionFilter(since=week)),
        "distribution_24h_version": lambda s: queries.category_distribution(
            s, queries.PredictionFilter(since=day, model_version="r2")
        ),
        "distribution_origin": lambda s: queries.category_distribution(
            s, queries.PredictionFilter(since=week, origin="reclassify")
        ),
        "review_queue": lambda s: queries.review_queue(s, threshold, limit=50),
        "review_queue_page_20": lambda s: queries.review_queue(s, threshold, limit=50, offset=1000),
        "throughput_24h_5min": lambda s: queries.throughput_and_lag(
            s, queries.PredictionFilter(since=day), 300
        ),
        "throughput_7d_1h": lambda s: queries.throughput_and_lag(
            s, queries.PredictionFilter(since=week), 3600
        ),
        "version_agreement": lambda s: queries.version_agreement(s, "r1", "r2"),
        "listing_detail": lambda s: queries.listing_detail(s, "L00001234"),
        "versions_seen": queries.model_versions_seen,
    }


def time_cases(url: str, cases: dict[str, Callable[[Session], Any]], repeats: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, fn in cases.items():
        timings = []
        for attempt in range(repeats + 1):
            with session_scope(url) as session:
                started = time.perf_counter()
                fn(session)
                elapsed = (time.perf_counter() - started) * 1000
            if attempt:  # the first run warms caches and is not counted
                timings.append(elapsed)
        results[name] = {
            "median_ms": round(statistics.median(timings), 2),
            "max_ms": round(max(timings), 2),
            "runs": repeats,
            "under_goal": statistics.median(timings) < GOAL_MS,
        }
    return results


def run_bench(
    admin_url: str,
    n_predictions: int = 100_000,
    repeats: int = 5,
    threshold: float = 0.6,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Create a database, seed it, time every query, drop it; the JSON result."""
    with scratch_database(admin_url, "catalog_bench") as url:
        upgrade(url)
        started = time.perf_counter()
        seed_database(url, n_predictions, progress=progress)
        seed_s = time.perf_counter() - started
        with engine_for(url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))  # the steady state autovacuum keeps
            version = conn.execute(text("SHOW server_version")).scalar()
        with session_scope(url) as session:
            stored = int(session.scalar(select(func.count()).select_from(Prediction)) or 0)
        load_before = os.getloadavg()[0]
        results = time_cases(url, dashboard_cases(threshold), repeats)
        load_after = os.getloadavg()[0]
    return {
        "benchmark": "dashboard queries",
        "goal_ms": GOAL_MS,
        "predictions": stored,
        "listings": n_predictions // 2,
        "seed_seconds": round(seed_s, 1),
        "postgres": version,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_1m": [round(load_before, 2), round(load_after, 2)],  # shared machine: context
        },
        "measured_at": utcnow().isoformat(),
        "queries": results,
        "all_under_goal": all(r["under_goal"] for r in results.values()),
    }
