"""``catalog bench fullsize``: the whole catalog end to end, ingested then reclassified as a job.

1. the catalog: a challenge-layout folder (``catalog synth --n 84916`` writes one with the real
   class counts and 500x500 photos); its size, photos and class counts are recorded;
2. the **in-process limit** (:mod:`services.bench.reference`: same models, one process, batched,
   no queue) on the first ``limit_offers`` offers of the same catalog, before the pipeline runs
   and again after it (the machine may be shared: both are kept, the ratio uses their mean);
3. the pipeline: every worker a separate process (``services.bench.cluster``) on a private
   redis-server and the given database; a warm-up of a few offers (listing ids ``warmup-*``,
   excluded from every count) so the clock starts with models loaded;
4. **pass 1**: the real ``catalog ingest DIR`` as its own process into the running workers;
   throughput = offers / (ingest start to the last prediction written);
5. **pass 2**: a reclassification job of every ingested listing created through the job API and
   run by the ``reclassify`` worker; at ``kill_at`` of it the worker is SIGKILLed and started
   again: after the lease the new process takes the job over at its saved cursor;
6. exactly once, in SQL: per listing, the predictions of each pass (0 = lost, >1 = duplicated);
   peak RSS (``VmHWM``) of every process and Redis' ``used_memory_peak``; the load average
   sampled throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from services.api.ingest import read_offers
from services.bench.cluster import Cluster, cluster, private_redis
from services.bench.cpu import per_offer_ms
from services.bench.fullsize_checks import WARMUP_PREFIX, Sampler, pass_counts, stored_count
from services.bench.pipeline import redis_pid, worker_pids
from services.bench.reference import Reference
from services.bench.stats import machine, peak_rss_mb
from shared.config import Settings
from shared.contract import ListingSubmitted, Stream
from shared.db.jobs import JobFilter, create_job, get_job, job_view
from shared.db.session import migrate, session_scope
from shared.redis_conn import resolve_redis_url

Note = Callable[[str], None]


@contextlib.contextmanager
def scratch_or(database_url: str | None) -> Iterator[str]:
    """``database_url``, or a scratch PostgreSQL database (CATALOG_TEST_POSTGRES_URL's server or
    the local one) dropped afterwards."""
    if database_url:
        yield database_url
        return
    from shared.db.session import scratch_database

    admin = os.environ.get("CATALOG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with scratch_database(admin, "bench_fullsize") as url:
        yield url


@dataclass
class FullsizeOptions:
    limit_offers: int = 2000
    limit_batch: int = 64
    max_in_flight: int = 1000
    kill_at: float = 0.4
    """Fraction of the job completed when its runner is SIGKILLed."""
    lease_s: float = 30.0
    """CATALOG_JOB_LEASE_S of the workers: how long a dead runner's job waits for a takeover."""
    replicas: dict[str, int] = field(default_factory=dict)
    redis_port: int | None = None
    sample_every_s: float = 30.0
    stall_s: float = 600.0
    """A pass fails after this long without a new prediction."""


async def limit_rate(settings: Settings, events: list[ListingSubmitted], batch: int) -> dict[str, Any]:
    """Offers/s of the in-process limit on ``events`` (after a one-batch warm-up)."""
    reference = Reference(settings)
    try:
        await reference.run(events[:batch], batch)
        reference.cpu.clear()
        started, cpu = time.perf_counter(), time.process_time()
        done = await reference.run(events, batch)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await reference.close()
    return {
        "offers": len(done),
        "throughput": round(len(done) / seconds, 2),
        "seconds": round(seconds, 2),
        "cpu_ms_per_offer": {
            **{stage: per_offer_ms(s, len(done)) for stage, s in reference.cpu.items()},
            "total": per_offer_ms(cpu, len(done)),
        },
        "load_average": machine()["load_average"],
    }


async def warm_up(running: Cluster, events: list[ListingSubmitted], count: int = 32) -> None:
    """A few offers through every stage, so that each worker has its models loaded."""
    warm = [
        ListingSubmitted.new(f"{WARMUP_PREFIX}{i}", e.title, e.description, e.image_uri)
        for i, e in enumerate(events[:count])
    ]
    await running.publish(warm)
    if await running.wait_stored(len(warm), 900) < len(warm):
        raise RuntimeError("the workers did not classify the warm-up offers within 900 s")


class Run:
    """One run's cluster, database, sampler and notes (the two passes share them)."""

    def __init__(self, running: Cluster, redis: Redis, options: FullsizeOptions, note: Note) -> None:
        self.running, self.redis, self.options, self.note = running, redis, options, note
        self.url = running.url
        self.sampler = Sampler(redis, options.sample_every_s, self.sampled)
        self.done: dict[str, Any] = {}
        """What is measured so far: written to ``partial.json`` with every sample."""
        self.work: Path | None = None
        self.ingest_started = datetime.now(UTC)

    def sampled(self, sample: dict[str, Any]) -> None:
        self.note(_sample_line(sample))
        if self.work is not None:
            _partial(self.work, self.done, self)

    async def dead_letters(self) -> int:
        return int(await self.redis.xlen(self.running.settings.key(Stream.DEAD)))

    async def wait_pass(self, job_id: uuid.UUID | None, expected: Callable[[], int | None]) -> int:
        """Until the pass has ``expected()`` predictions (None: not known yet) counting dead
        letters, restarting crashed workers; fails after ``stall_s`` without progress."""
        last, changed = -1, time.monotonic()
        while True:
            self.running.supervisor.poll()
            stored = await asyncio.to_thread(stored_count, self.url, job_id)
            target = expected()
            if target is not None and stored + await self.dead_letters() >= target:
                return stored
            if stored != last:
                last, changed = stored, time.monotonic()
            elif time.monotonic() - changed > self.options.stall_s:
                raise RuntimeError(f"no prediction for {self.options.stall_s:.0f} s at {stored} stored")
            await asyncio.sleep(1.0)

    async def ingest_pass(self, root: Path, folder: Path) -> dict[str, Any]:
        """``catalog ingest`` as its own process; every offer classified once."""
        summary = folder / "ingest-summary.json"
        command = [sys.executable, "-m", "services.cli.main", "ingest", str(root), "--json", str(summary)]
        started, cpu = datetime.now(UTC), dict(self.sampler.cpu)
        self.sampler.progress = lambda: {"pass": "ingest", "stored": stored_count(self.url, None)}
        with (folder / "ingest.log").open("wb") as log:
            process = subprocess.Popen(command, env=self.running.supervisor.env, stdout=log, stderr=log)
        self.sampler.watch("catalog ingest", process.pid)
        published: list[int] = []

        def expected() -> int | None:
            if not published and process.poll() is not None:
                self.sampler.forget("catalog ingest")
                if process.returncode != 0:
                    raise RuntimeError(
                        f"catalog ingest failed ({process.returncode}): see {folder}/ingest.log"
                    )
                published.append(int(json.loads(summary.read_text())["published"]))
            return published[0] if published else None

        await self.wait_pass(None, expected)
        self.ingest_started = started
        counts = await asyncio.to_thread(pass_counts, self.url, None)
        extra = {"ingest_summary": json.loads(summary.read_text()), **self.cpu_of(cpu, counts)}
        return _pass_result(counts, started, extra)

    async def job_pass(self) -> dict[str, Any]:
        """A reclassification job of every ingested listing, its runner killed once mid-job."""
        with session_scope(self.url) as session:
            flt = JobFilter(since=self.ingest_started)  # the ingested listings, not the warm-up's
            view = job_view(create_job(session, flt, self.options.max_in_flight, page_size=500))
        job_id, total, started = uuid.UUID(view["job_id"]), int(view["total"]), datetime.now(UTC)
        cpu = dict(self.sampler.cpu)
        self.note(f"job {job_id}: {total} listings")
        self.sampler.progress = lambda: {"pass": "reclassify", **_progress(self.url, job_id)}
        kill: dict[str, Any] = {}
        while (view := await asyncio.to_thread(_view, self.url, job_id))["status"] in ("pending", "running"):
            self.running.supervisor.poll()
            if not kill and view["completed"] >= self.options.kill_at * total:
                kill = await self.kill_runner(view)
            if kill and "resumed_by" not in kill and view["runner"] not in (None, kill["runner"]):
                kill["resumed_by"] = view["runner"]
                kill["resumed_after_s"] = round(time.monotonic() - kill.pop("_at"), 1)
                self.note(f"job resumed by {view['runner']} after {kill['resumed_after_s']} s")
            await asyncio.sleep(1.0)
        counts = await asyncio.to_thread(pass_counts, self.url, job_id)
        extra = {"job_id": str(job_id), "job": view, "kill": kill, **self.cpu_of(cpu, counts)}
        result = _pass_result(counts, started, extra)
        return result

    def cpu_of(self, before: dict[str, float], counts: dict[str, Any]) -> dict[str, Any]:
        """CPU seconds of every process over a pass, and in ms per offer (PostgreSQL's own
        processes are not counted: they are not ours to read)."""
        seconds = self.sampler.cpu_since(before)
        seconds.pop("bench (in-process limit)", None)
        return {
            "cpu_s": seconds,
            "cpu_ms_per_offer": per_offer_ms(sum(seconds.values()), counts["predictions"]),
        }

    async def kill_runner(self, view: dict[str, Any]) -> dict[str, Any]:
        """SIGKILL the reclassify worker running the job, then start it again."""
        name = "reclassify-1"
        self.sampler.forget(name)
        pid = worker_pids(self.running).get(name)
        self.running.supervisor.kill(name)
        kill = {
            "signal": "SIGKILL",
            "process": name,
            "pid": pid,
            "runner": view["runner"],
            "at_completed": view["completed"],
            "at_published": view["published"],
            "_at": time.monotonic(),
        }
        self.note(f"SIGKILLed {name} (pid {pid}) at {view['completed']}/{view['total']} completed")
        await asyncio.sleep(1.0)
        self.running.supervisor.start(name)
        self.sampler.watch(f"{name} (restarted)", worker_pids(self.running)[name])
        return kill


def _view(url: str, job_id: uuid.UUID) -> dict[str, Any]:
    with session_scope(url) as session:
        return job_view(get_job(session, job_id))


def _progress(url: str, job_id: uuid.UUID) -> dict[str, Any]:
    view = _view(url, job_id)
    return {k: view[k] for k in ("status", "published", "completed", "runner")}


def _sample_line(sample: dict[str, Any]) -> str:
    done = sample.get("stored", sample.get("completed"))
    memory = sample["used_memory"] / 2**20
    return f"{sample['pass']}: {done} done, load {sample['load_average']}, redis {memory:.0f} MiB"


def _cpu_ratio(limits: list[dict[str, Any]], result: dict[str, Any]) -> float | None:
    """The limit's CPU ms per offer over the pass's (all processes): the throughput ratio the
    two would have on the same share of idle cores, whatever else the machine runs."""
    limit = sum(x["cpu_ms_per_offer"]["total"] for x in limits) / len(limits)
    return round(limit / result["cpu_ms_per_offer"], 3) if result.get("cpu_ms_per_offer") else None


def _partial(work: Path, body: dict[str, Any], run: Run) -> None:
    """What is measured so far, in ``work/partial.json`` (a long run stopped later keeps it)."""
    body = {**body, "peak_rss_mib": run.sampler.read_peaks(), "samples": run.sampler.samples}
    (work / "partial.json").write_text(json.dumps(body, indent=1, default=str), "utf-8")


def _pass_result(counts: dict[str, Any], started: datetime, extra: dict[str, Any]) -> dict[str, Any]:
    last = counts.pop("last_written")
    counts.pop("first_written")
    seconds = (last - started).total_seconds() if last else None
    return {
        **counts,
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(seconds, 1) if seconds else None,
        "throughput": round(counts["predictions"] / seconds, 2) if seconds else None,
        **extra,
    }


async def run_bench(
    settings: Settings, root: Path, database_url: str, work: Path, options: FullsizeOptions, note: Note
) -> dict[str, Any]:
    """Both passes and both limit measurements; see the module docstring."""
    work.mkdir(parents=True, exist_ok=True)
    before = machine()
    s = settings.model_copy(
        update={"database_url": database_url, "image_roots": [root], "translator": "none",
                "stream_prefix": f"fullsize-{uuid.uuid4().hex[:8]}:"}
    )  # fmt: skip
    sample = [o.event for o in read_offers(root, options.limit_offers)]
    note(f"in-process limit on {len(sample)} offers (before)")
    limits = [await limit_rate(s, sample, options.limit_batch)]
    note(f"limit: {limits[0]['throughput']} offers/s")
    migrate(database_url)
    env = {"CATALOG_JOB_LEASE_S": str(options.lease_s), "CATALOG_JOB_POLL_INTERVAL_S": "1"}
    with private_redis(options.redis_port, work) as redis_url:
        s = s.model_copy(update={"redis_url": redis_url})
        redis = Redis.from_url(resolve_redis_url(s))
        try:
            with cluster(s, options.replicas, env) as running:
                run = Run(running, redis, options, note)
                run.work, run.done["limit_before"] = work, limits[0]
                for name, pid in {**worker_pids(running), "redis-server": await redis_pid(s)}.items():
                    run.sampler.watch(name, pid)
                await warm_up(running, sample)
                note("warm-up done; pass 1: catalog ingest")
                with run.sampler.running():
                    ingest = await run.ingest_pass(root, work)
                    run.done["ingest_pass"] = ingest
                    note(f"ingest pass: {ingest['predictions']} predictions, {ingest['throughput']} offers/s")
                    job = await run.job_pass()
                    note(f"reclassify pass: {job['predictions']} predictions, {job['throughput']} offers/s")
                    await run.sampler.sample()
                dead = await run.dead_letters()
                peaks = dict(run.sampler.read_peaks())
                redis_info = await redis.info("memory")
                samples = run.sampler.samples
        finally:
            await redis.aclose()
    note("in-process limit (after)")
    limits.append(await limit_rate(s, sample, options.limit_batch))
    limit = sum(x["throughput"] for x in limits) / len(limits)
    peaks["bench (in-process limit)"] = peak_rss_mb()
    return {
        "benchmark": "catalog bench fullsize",
        "catalog": str(root),
        "listings": ingest["listings"],
        "database": database_url.split("://")[0],
        "model_repository": str(settings.model_repository),
        "batch_size": settings.batch_size,
        "replicas": options.replicas,
        "limit": {
            "offers": len(sample),
            "batch": options.limit_batch,
            "runs": limits,
            "mean": round(limit, 2),
        },
        "ingest_pass": ingest,
        "reclassify_pass": job,
        "ratio_to_limit": {
            "ingest": round((ingest["throughput"] or 0) / limit, 3),
            "reclassify": round((job["throughput"] or 0) / limit, 3),
        },
        "cpu_ratio_to_limit": {
            name: _cpu_ratio(limits, p) for name, p in (("ingest", ingest), ("reclassify", job))
        },
        "dead_letters": dead,
        "peak_rss_mib": peaks,
        "redis": {k: int(redis_info[k]) for k in ("used_memory_peak", "used_memory")},
        "machine": {**before, "load_average_after": machine()["load_average"]},
        "samples": samples,
    }
