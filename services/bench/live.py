"""``catalog bench live``: live-offer latency, idle and under a saturating bulk reclassification.

Same private pipeline as ``bench pipeline``. ``listings`` offers are stored (not classified);
then live offers are published one at a time every ``interval`` seconds, twice: on the idle
pipeline, and while a reclassification job of the stored offers (``max_in_flight`` throttle,
the real runner of ``services/reclassify``) keeps every stage busy. A live offer's latency is
from its submission to the writer's commit. p99 is a statistic only with enough live offers
(200 by default: p99 is the second slowest; with 40 it was the slowest one), and the bulk job
must outlast the loaded phase (``bulk_saturated_throughout``): enough stored offers for
``live * interval`` seconds at the bulk rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from services.api.ingest_run import store_offers as _store
from services.bench.cluster import Cluster, cluster
from services.bench.pipeline import bench_settings, fresh, offers_at
from services.bench.stats import machine, percentiles, stage_latencies, stage_spans
from services.reclassify.runner import RunOptions, run_job
from shared.config import Settings
from shared.contract import ListingSubmitted
from shared.db.jobs import JobFilter, cancel_job, create_job, get_job, job_view
from shared.db.session import session_scope

WORST = 5
"""The slowest live offers of a phase whose stage spans the JSON lists (where they waited)."""


async def live_phase(running: Cluster, offers: list[ListingSubmitted], interval: float) -> dict[str, Any]:
    """Publish ``offers`` one at a time (fresh ids), wait for all, their latencies."""
    sent: list[ListingSubmitted] = []
    for offer in offers:
        event = fresh([offer])[0]
        await running.publish([event])
        sent.append(event)
        await asyncio.sleep(interval)
    deadline = time.monotonic() + 300
    ids = [e.submission_id for e in sent]
    stamps = await asyncio.to_thread(running.timestamps, ids)
    while len(stamps) < len(sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        stamps = await asyncio.to_thread(running.timestamps, ids)
    spans = [(ts["written"] - ts["submitted"]).total_seconds() for ts in stamps if "submitted" in ts]
    worst = sorted((stage_spans(ts) for ts in stamps), key=lambda s: -s.get("end_to_end", 0.0))[:WORST]
    return {
        "offers": len(sent),
        "stored": len(stamps),
        "latency_ms": percentiles(spans, (50, 95, 99)),
        # p99 is the ceil(0.99 n)-th fastest: with n offers, the (n - that + 1)-th slowest one.
        "p99_rank_from_slowest": len(spans) - math.ceil(0.99 * len(spans)) + 1 if spans else None,
        "stages_ms": stage_latencies(stamps),
        "slowest_offers_stages_ms": [{k: round(v * 1000, 1) for k, v in s.items()} for s in worst],
    }


def _job(url: str, job_id: uuid.UUID) -> dict[str, Any]:
    with session_scope(url) as session:
        return job_view(get_job(session, job_id))


async def run_bench(
    settings: Settings,
    data: Path | None,
    listings: int,
    live: int,
    interval: float,
    max_in_flight: int,
    replicas: dict[str, int],
    redis_url: str | None = None,
    database_url: str | None = None,
    redis_port: int | None = None,
) -> dict[str, Any]:
    """Idle and loaded live latencies; see the module docstring."""
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        folder = Path(tmp)
        with (
            offers_at(data, listings, folder) as (root, events),
            bench_settings(settings, root, folder, redis_url, database_url, redis_port) as s,
            cluster(s, replicas) as running,
        ):
            url = s.effective_database_url
            await asyncio.to_thread(_store, url, events)
            probes = [e.model_copy(update={"listing_id": f"live-{i}"}) for i, e in enumerate(events[:live])]
            await live_phase(running, probes[: min(8, live)], 0.0)  # warm-up
            idle = await live_phase(running, probes, interval)
            with session_scope(url) as session:
                job_id = uuid.UUID(job_view(create_job(session, JobFilter(), max_in_flight))["job_id"])
            job = asyncio.create_task(run_job(s, job_id, RunOptions(page_size=min(500, max_in_flight))))
            while (view := await asyncio.to_thread(_job, url, job_id))["published"] < min(
                max_in_flight, listings
            ):
                await asyncio.sleep(0.1)
            started, completed_before = time.monotonic(), view["completed"]
            loaded = await live_phase(running, probes, interval)
            view = await asyncio.to_thread(_job, url, job_id)
            bulk_rate = (view["completed"] - completed_before) / (time.monotonic() - started)
            saturated = view["status"] == "running" and view["published"] < view["total"]
            with session_scope(url) as session:
                cancel_job(session, job_id)
            with contextlib.suppress(asyncio.CancelledError):
                job.cancel()
                await job
            rss = running.peak_rss()
    idle_p99 = idle["latency_ms"].get("p99") or 0.0
    loaded_p99 = loaded["latency_ms"].get("p99") or 0.0
    return {
        "listings": listings,
        "live_offers": live,
        "interval_s": interval,
        "max_in_flight": max_in_flight,
        "batch_size": settings.batch_size,
        "replicas": replicas,
        "idle": idle,
        "under_bulk": loaded,
        "bulk_offers_per_s": round(bulk_rate, 2),
        "bulk_saturated_throughout": saturated,
        "p99_ratio": round(loaded_p99 / idle_p99, 2) if idle_p99 else None,
        "peak_rss_mb": rss,
        "machine": machine(),
    }
