"""``catalog bench write-cost``: what the dashboards' rollup costs the writer. The writer's store
path (:func:`services.writer.store.write_predictions`, one transaction per batch, as the writer
worker commits) on a fresh PostgreSQL database, *before* (schema 0009, no per-category counts)
and *after* (head: ``prediction_counts`` upserts, the review-order index), alternated so that a
shared machine's load weighs on both alike."""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import timedelta
from typing import Any
from unittest import mock

from services.bench.seed import prediction_event
from services.writer import store
from shared.contract import Origin, utcnow
from shared.db.session import scratch_database, session_scope, upgrade

BEFORE = "0009_taxonomy"


def _rows_per_s(admin_url: str, events: list[Any], batch: int, after: bool) -> float:
    with scratch_database(admin_url, "catalog_bench_write") as url:
        upgrade(url, "head" if after else BEFORE)
        patch = mock.patch.object(store, "add_to_counts", lambda *a, **k: None) if not after else None
        if patch:
            patch.start()
        try:
            started = time.perf_counter()
            for start in range(0, len(events), batch):
                chunk = events[start : start + batch]
                with session_scope(url) as session:
                    live = {e.submission_id: i for i, e in enumerate(chunk, start) if not e.shadow}
                    store.write_predictions(session, chunk, sequence=live)
            return len(events) / (time.perf_counter() - started)
        finally:
            if patch:
                patch.stop()


def run_write_cost(admin_url: str, n_events: int, batch: int, rounds: int) -> dict[str, Any]:
    """rows/s of the store path before and after the rollup, ``rounds`` times each."""
    rng, now = random.Random(0), utcnow()
    events = [
        prediction_event(
            f"L{k % max(1, n_events // 2):08d}", rng.choice([10, 40, 1280, 2583]),
            round(rng.uniform(0.2, 1.0), 4), model_version="r2",
            submitted_at=now - timedelta(seconds=n_events - k), latency_s=rng.uniform(0.2, 3.0),
            origin=Origin(kind="reclassify", job_id=None), decision=rng.choice(["auto", "review"]),
        )
        for k in range(n_events)
    ]  # fmt: skip
    measured: dict[str, list[float]] = {"before": [], "after": []}
    loads = []
    for _ in range(rounds):
        for name in ("before", "after"):
            loads.append(os.getloadavg()[0])
            measured[name].append(round(_rows_per_s(admin_url, events, batch, name == "after"), 1))
    before, after = statistics.median(measured["before"]), statistics.median(measured["after"])
    return {
        "benchmark": "writer store path, before/after the dashboard rollup (migration 0010)",
        "events": n_events,
        "batch": batch,
        "rows_per_s": measured,
        "median_rows_per_s": {"before": before, "after": after},
        "cost_pct": round(100 * (before - after) / before, 1),
        "load_avg_1m": [round(x, 2) for x in loads],
        "measured_at": utcnow().isoformat(),
    }
