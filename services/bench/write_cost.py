"""``catalog bench write-cost``: what the dashboards' rollups cost the writer. The writer's store
path (:func:`services.writer.store.write_predictions`, one transaction per batch, as the writer
worker commits) on a fresh PostgreSQL database, *before* (schema ``--before``: 0009 has no
per-category counts, 0010 no agreement and drift rollups) and *after* (head), alternated so that
a shared machine's load weighs on both alike. The events are the bulk seeder's mix: the first
half ``r1`` ingests, the second ``r2`` reclassifications of the same listings (so each moves its
listing's version pair), every 50th with a shadow ``r3`` prediction in the same batch."""

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

_ROLLUPS_0011 = ("lock_listings", "add_to_version_pairs", "add_to_shadow_pairs", "add_to_drift")
SKIPPED = {
    "0009_taxonomy": ("add_to_counts", *_ROLLUPS_0011),
    "0010_prediction_counts": _ROLLUPS_0011,
}
"""What the writer did not do yet at each "before" schema (skipped by patching the store path)."""


def _nothing(*args: Any, **kwargs: Any) -> Any:
    return {}


def _rows_per_s(admin_url: str, events: list[Any], batch: int, before: str | None) -> float:
    with scratch_database(admin_url, "catalog_bench_write") as url:
        upgrade(url, before or "head")
        skipped = SKIPPED.get(before or "", ())
        patches = [mock.patch.object(store, name, _nothing) for name in skipped]
        if skipped:
            patches.append(mock.patch.object(store, "stored_latest", _nothing))
        for patch in patches:
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
            for patch in patches:
                patch.stop()


def _events(n_events: int) -> list[Any]:
    """The seeder's mix (module docstring), in writing order."""
    rng, now, half = random.Random(0), utcnow(), max(1, n_events // 2)
    ingest, reclassify = Origin(kind="ingest", job_id=None), Origin(kind="reclassify", job_id=None)
    events = []
    for k in range(n_events):
        second = k >= half
        event = prediction_event(
            f"L{k % half:08d}", rng.choice([10, 40, 1280, 2583]), round(rng.uniform(0.2, 1.0), 4),
            model_version="r2" if second else "r1", submitted_at=now - timedelta(seconds=n_events - k),
            latency_s=rng.uniform(0.2, 3.0), origin=reclassify if second else ingest,
            decision=rng.choice(["auto", "review"]) if second else None,
        )  # fmt: skip
        events.append(event)
        if second and k % 50 == 0:
            shadow = prediction_event(
                event.listing_id, rng.choice([10, 40]), 0.5, model_version="r3", submitted_at=now,
                latency_s=1.0, origin=event.origin,
            )  # fmt: skip
            events.append(shadow.model_copy(update={"shadow": True, "shadow_of": event.submission_id}))
    return events


def run_write_cost(
    admin_url: str, n_events: int, batch: int, rounds: int, before: str = "0010_prediction_counts"
) -> dict[str, Any]:
    """rows/s of the store path at schema ``before`` and at head, ``rounds`` times each."""
    events = _events(n_events)
    measured: dict[str, list[float]] = {"before": [], "after": []}
    loads = []
    for _ in range(rounds):
        for name in ("before", "after"):
            loads.append(os.getloadavg()[0])
            measured[name].append(
                round(_rows_per_s(admin_url, events, batch, None if name == "after" else before), 1)
            )
    old, new = statistics.median(measured["before"]), statistics.median(measured["after"])
    return {
        "benchmark": f"writer store path, schema {before} (before) vs head (after)",
        "before": before,
        "skipped_before": list(SKIPPED[before]),
        "events": len(events),
        "batch": batch,
        "rows_per_s": measured,
        "median_rows_per_s": {"before": old, "after": new},
        "cost_pct": round(100 * (old - new) / old, 1),
        "load_avg_1m": [round(x, 2) for x in loads],
        "measured_at": utcnow().isoformat(),
    }
