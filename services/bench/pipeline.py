"""``catalog bench pipeline``: the whole pipeline against its limit and the naive way, one run.

1. synthetic offers with photos (or a challenge-layout directory);
2. the limit and the naive way in this process (:mod:`services.bench.reference`);
3. the pipeline: every worker a separate process on a private redis-server and database; a
   warm-up burst, then all N offers published at once; throughput is N over the time from the
   first publish to the last commit; latencies come from each prediction's stage timestamps;
   CPU per offer of every process over that window (:mod:`services.bench.cpu`), and with
   ``profile`` a py-spy profile of each worker (:mod:`services.bench.profiling`).

Ratios are what to compare between machines: absolute rates drift on shared cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.api.ingest import read_offers
from services.bench.cluster import Cluster, cluster, private_redis
from services.bench.cpu import CpuWindow, per_offer_ms, plumbing
from services.bench.profiling import Profilers
from services.bench.reference import measure
from services.bench.stats import machine, peak_rss_mb, stage_latencies
from services.cli.registry import WORKERS
from shared.config import Settings
from shared.contract import ListingSubmitted
from shared.redis_conn import resolve_redis_url


@contextlib.contextmanager
def offers_at(data: Path | None, n: int, folder: Path) -> Iterator[tuple[Path, list[ListingSubmitted]]]:
    """``n`` offers of ``data`` (a synthetic catalog generated in ``folder`` when None)."""
    if data is None:
        from training.synth import generate_catalog

        data = folder / "offers"
        generate_catalog(data, n, 0)
    offers = read_offers(data, n)
    if len(offers) < n:
        raise ValueError(f"{data} has {len(offers)} offers, fewer than --listings {n}")
    yield data.resolve(), [o.event for o in offers]


def fresh(events: list[ListingSubmitted]) -> list[ListingSubmitted]:
    """The same offers as new submissions (new ids, submitted now)."""
    return [ListingSubmitted.new(e.listing_id, e.title, e.description, e.image_uri) for e in events]


@contextlib.contextmanager
def bench_settings(
    settings: Settings,
    data: Path,
    folder: Path,
    redis_url: str | None,
    database_url: str | None,
    redis_port: int | None,
) -> Iterator[Settings]:
    """``settings`` pointed at the offers, a private Redis (started here unless given) and database."""
    with contextlib.ExitStack() as stack:
        url = redis_url or stack.enter_context(private_redis(redis_port, folder))
        yield settings.model_copy(
            update={
                "redis_url": url,
                "database_url": database_url or f"sqlite:///{folder / 'bench.db'}",
                "stream_prefix": f"perf-{uuid.uuid4().hex[:8]}:",
                "image_roots": [data],
                "translator": "none",
            }
        )


def worker_pids(running: Cluster) -> dict[str, int]:
    return {spec.name: spec.process.pid for spec in running.supervisor.specs if spec.process}


async def redis_pid(settings: Settings) -> int:
    """The pid of the (private, local) redis-server, as it reports it."""
    from redis.asyncio import Redis

    client = Redis.from_url(resolve_redis_url(settings))
    try:
        return int((await client.info("server"))["process_id"])
    finally:
        await client.aclose()


async def run_pipeline(
    settings: Settings,
    events: list[ListingSubmitted],
    replicas: dict[str, int],
    timeout_s: float,
    own_redis: bool = True,
    profile: Path | None = None,
) -> dict[str, Any]:
    """Throughput, latencies and CPU of the worker processes (and ``own_redis``'s) on ``events``."""
    with cluster(settings, replicas) as running:
        warm = fresh(events[: min(64, len(events))])
        await running.publish(warm)
        if await running.wait_stored(len(warm), 600) < len(warm):
            raise RuntimeError("the workers did not classify the warm-up offers within 600 s")
        batch = fresh(events)
        pids = worker_pids(running)
        window = CpuWindow({**pids, **({"redis": await redis_pid(settings)} if own_redis else {})})
        profilers = Profilers(profile) if profile else None
        try:
            if profilers:
                profilers.start(pids)
            window.start()
            started, bench_cpu = time.time(), time.process_time()
            await running.publish(batch)
            published_s = time.time() - started
            stored = await running.wait_stored(len(warm) + len(batch), timeout_s) - len(warm)
            cpu_s = window.stop(worker_pids(running))
            bench_cpu = time.process_time() - bench_cpu
        finally:
            profiles = profilers.stop() if profilers else None  # written even when the run failed
        rss = running.peak_rss()
        stamps = await asyncio.to_thread(running.timestamps, [e.submission_id for e in batch])
    last = max((ts["written"].timestamp() for ts in stamps), default=time.time())
    elapsed = max(1e-6, last - started)
    return {
        "throughput": round(len(stamps) / elapsed, 2),
        "seconds": round(elapsed, 2),
        "publish_seconds": round(published_s, 3),
        "stored": stored,
        "latency_ms": stage_latencies(stamps),
        "peak_rss_mb": rss,
        "cpu_s": cpu_s,
        "bench_cpu_s": round(bench_cpu, 3),
        **({"profiles": profiles} if profiles is not None else {}),
    }


def cpu_report(pipeline: dict[str, Any], reference: dict[str, Any], n: int) -> dict[str, Any]:
    """CPU ms per offer: per process, per stage (its replicas summed) and the plumbing per stage."""
    per_process = {name: per_offer_ms(s, n) for name, s in pipeline["cpu_s"].items()}
    replicas: dict[str, list[float | None]] = {}
    for name, ms in per_process.items():
        replicas.setdefault(name if name == "redis" else name.rsplit("-", 1)[0], []).append(ms)  # fusion-1
    per_stage = {
        stage: None if None in values else round(sum(v or 0.0 for v in values), 3)
        for stage, values in replicas.items()
    }
    known = [v for v in per_stage.values() if v is not None]
    model = {k: v for k, v in reference["limit_cpu_ms_per_offer"].items() if k != "total" and v is not None}
    return {
        "cpu_ms_per_offer": {
            "processes": per_process,
            "stages": per_stage,
            "total": round(sum(known), 3) if len(known) == len(per_stage) else None,
            "bench_publisher": per_offer_ms(pipeline["bench_cpu_s"], n),
        },
        "plumbing_ms_per_offer": plumbing(per_stage, model),
    }


async def run_bench(
    settings: Settings,
    data: Path | None,
    n: int,
    replicas: dict[str, int],
    limit_batch: int = 64,
    naive_offers: int = 200,
    redis_url: str | None = None,
    database_url: str | None = None,
    redis_port: int | None = None,
    timeout_s: float = 1800,
    profile: Path | None = None,
) -> dict[str, Any]:
    """The whole comparison; see the module docstring."""
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        folder = Path(tmp)
        with (
            offers_at(data, n, folder) as (root, events),
            bench_settings(settings, root, folder, redis_url, database_url, redis_port) as s,
        ):
            before = machine()
            naive_db = f"sqlite:///{folder / 'naive.db'}"
            from shared.db.session import migrate

            migrate(naive_db)
            reference = await measure(s, events, limit_batch, naive_offers, naive_db)
            pipeline = await run_pipeline(s, events, replicas, timeout_s, redis_url is None, profile)
            after = machine()
    result: dict[str, Any] = {
        "listings": n,
        "backend": settings.inference_backend,
        "model_repository": str(settings.model_repository),
        "replicas": {
            **dict.fromkeys(WORKERS, 1),  # the cluster runs one of every registered kind by default
            **replicas,
        },
        "batch_size": settings.batch_size,
        "inference_threads": settings.inference_threads,
        "database": "postgresql" if database_url and database_url.startswith("postgres") else "sqlite",
        **pipeline,
        **reference,
    }
    result.update(cpu_report(pipeline, reference, n))
    result["ratio_to_limit"] = round(pipeline["throughput"] / reference["limit_throughput"], 3)
    result["ratio_to_naive"] = round(pipeline["throughput"] / reference["naive_throughput"], 3)
    result["peak_rss_mb"] = {**pipeline["peak_rss_mb"], "bench (limit + naive)": peak_rss_mb()}
    result["machine"] = {**before, "load_average_after": after["load_average"]}
    return result
