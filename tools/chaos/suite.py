"""The fault-injection suite (``python -m tools.chaos --n N``, ``make chaos``; docs/reliability.md).

The pipeline runs as separate processes on loopback (see :mod:`tools.chaos.cluster`).
While synthetic offers flow in through the API (some listings submitted twice), a schedule
SIGKILLs random workers and restarts them, restarts Redis (append-only file kept), makes Redis
lose its data once, stops Triton for a while, makes the translator fail, SIGKILLs the writer
while PostgreSQL shows it inside a transaction, injects poisoned entries and forged or
future-stamped events (``chaos_forged.py``) that must be dead-lettered, restarts Redis under a
``catalog reclassify`` runner, and last closes the database for longer than reclaim x deliveries
(:mod:`tools.chaos.outages`). Then SQL must hold one prediction per submission, none lost
or duplicated, every listing must show its newest submission, the SQL outage's backlog must
drain within a minute of its end, and the dead letters must be exactly those of the poisoned and
forged entries. The last line printed is the summary::

    chaos: submitted=N stored=N duplicates=0 lost=0 dead_letters=K expected_dead=K
"""

from __future__ import annotations

import itertools
import logging
import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from services.cli.registry import consumers_of, worker_names
from shared.contract import Stream, lane_stream, lanes_of
from tools.chaos.checks import check_store, count_open, dead_letters
from tools.chaos.cluster import (
    MAX_DELIVERIES,
    RECLAIM_IDLE_MS,
    WRITER_APP_NAME,
    Cluster,
    Ports,
    base_env,
)
from tools.chaos.forged import forged_entries
from tools.chaos.outages import RunnerUnderRedisRestart, SqlOutage

log = logging.getLogger(__name__)

POISON_STREAMS = (Stream.SUBMITTED, Stream.PREPARED, Stream.TEXT_FEATURES, Stream.CLASSIFIED)


@dataclass(frozen=True)
class ChaosOptions:
    n: int
    model_repository: Path
    workdir: Path | None
    port_base: int
    seed: int
    timeout_s: float
    postgres_admin_url: str
    triton_venv: Path
    redis_server: Path = Path("/usr/bin/redis-server")
    reconcile_after_s: float = 30.0
    resubmit_share: float = 0.1
    drain_limit_s: float = 60.0
    """The SQL outage's backlog must be closed within this long of the database's return."""


@dataclass
class Faults:
    """What was injected, counted as it happened."""

    counts: Counter[str] = field(default_factory=Counter)
    worker_kills: Counter[str] = field(default_factory=Counter)
    poisons: list[tuple[str, str]] = field(default_factory=list)
    """(stream, marker) of every poisoned entry."""

    def line(self) -> str:
        kills = ", ".join(f"{k}={v}" for k, v in sorted(self.worker_kills.items()))
        others = " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        return f"faults: worker_sigkills={sum(self.worker_kills.values())} ({kills}) {others}"


def _ensure_model(repository: Path, workdir: Path, seed: int) -> None:
    """Train the tiny profile on a synthetic catalog when ``repository`` has no model.

    The suite serves with a translator (the stand-in), so its model is trained through the same
    language step (the one translation rule: the text-encoder refuses a model whose training
    text was prepared otherwise). A repository trained another way is refused at start."""
    if (repository / "manifest.json").is_file():
        return
    from services.language.training import LanguageStepPreparer
    from shared.config import Settings
    from tools.standins.translator import StandinTranslator
    from training.pipeline import TrainRequest, train
    from training.profiles import DEFAULT_IMAGE_BASE, DEFAULT_TEXT_BASES, get_profile
    from training.synth import generate_catalog

    data = workdir / "train-data"
    generate_catalog(data, n=300, seed=seed + 1)
    translator = StandinTranslator().start()
    try:
        settings = Settings(
            translator="google",
            translator_url=translator.url,
            redis_url=None,  # the translation cache: an embedded Redis under the work dir
            var_dir=workdir / "train-var",
        )
        train(
            TrainRequest(
                data_dir=data,
                out=repository,
                text_bases=list(DEFAULT_TEXT_BASES),
                image_bases=[DEFAULT_IMAGE_BASE],
                profile=get_profile("tiny"),
                instance_kind="KIND_CPU",
                text_preparer=LanguageStepPreparer(settings),
            )
        )
    finally:
        translator.stop()


def _offers(workdir: Path, n: int, share: float, seed: int) -> list[dict[str, Any]]:
    """``n`` submissions: synthetic offers, ``share`` of them a second, changed submission of
    an earlier listing (sent later), so the newest-submission rule is exercised."""
    from services.api.ingest import read_offers
    from training.synth import generate_catalog

    twice = int(n * share)
    data = workdir / "offers"
    generate_catalog(data, n=n - twice, seed=seed)
    first = [
        {
            "listing_id": f"chaos-{o.event.listing_id}",
            "title": o.event.title,
            "description": o.event.description,
            "image_uri": o.event.image_uri,
        }
        for o in read_offers(data)
    ]
    rng = random.Random(seed)
    half = len(first) // 2
    again = [
        {**offer, "title": (offer["title"] or "") + " (v2)"} for offer in rng.sample(first[:half], twice)
    ]
    tail = first[half:] + again  # a second submission always comes after its first
    rng.shuffle(tail)
    return first[:half] + tail


class Submitter:
    """Posts the offers to the API in small batches at a steady pace; retries what fails."""

    def __init__(
        self, port: int, token: str, offers: list[dict[str, Any]], duration_s: float, faults: Faults
    ) -> None:
        self.url = f"http://127.0.0.1:{port}/v1/listings"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.offers, self.duration_s, self.faults = offers, duration_s, faults
        self.accepted: list[uuid.UUID] = []
        self.last_error = ""
        self.stop = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        batch = 5
        pause = self.duration_s / max(1, len(self.offers) / batch)
        with httpx.Client(timeout=30) as client:
            for start in range(0, len(self.offers), batch):
                body = {"offers": self.offers[start : start + batch]}
                while not self.stop.is_set():
                    try:
                        response = client.post(self.url, json=body, headers=self.headers)
                        if response.status_code == 202:
                            self.accepted += [
                                uuid.UUID(s["submission_id"]) for s in response.json()["submissions"]
                            ]
                            break
                        self.last_error = f"{response.status_code} {response.text[:300]}"
                    except httpx.HTTPError as exc:
                        self.last_error = f"{type(exc).__name__}: {exc}"
                    self.faults.counts["api_retries"] += 1
                    if self.faults.counts["api_retries"] % 50 == 0:
                        log.warning("API refuses offers: %s", self.last_error)
                    time.sleep(0.5)
                time.sleep(pause)
        self.done.set()


class FaultPlan:
    """The schedule: each fault at a fraction of the submission window ``window_s``."""

    def __init__(
        self,
        cluster: Cluster,
        translator: Any,
        faults: Faults,
        window_s: float,
        seed: int,
        sql_outage: SqlOutage,
        runner: RunnerUnderRedisRestart,
    ) -> None:
        self.cluster, self.translator, self.faults = cluster, translator, faults
        self.window_s, self.rng = window_s, random.Random(seed)
        self.sql_outage, self.runner = sql_outage, runner
        self.t0 = time.monotonic()
        self.stop = threading.Event()

    def at(self, share: float) -> bool:
        """Wait until ``share`` of the window; False when the run is stopping."""
        delay = self.t0 + share * self.window_s - time.monotonic()
        return not self.stop.wait(max(0.0, delay))

    def run(self) -> None:
        n_kills = max(5, int(self.window_s / 4))
        kill_times = sorted(self.rng.uniform(0.02, 0.95) for _ in range(n_kills))
        events: list[tuple[float, Callable[[], None]]] = [(t, self.kill_worker) for t in kill_times]
        events += [
            (0.05, self.translator_down),
            (0.15, self.stop_triton),
            (0.30, self.kill_writer_in_transaction),
            (0.35, self.restart_redis_under_runner),
            (0.40, self.restart_redis),
            (0.55, self.lose_redis_data),
            (0.65, self.poison),
            (0.70, self.forge),
            (0.75, self.kill_writer_in_transaction),
            (0.80, self.translator_flaky),
            (0.90, self.poison),
            (0.95, self.close_database),  # last: its drain is measured without other faults
        ]
        for share, action in sorted(events, key=lambda e: e[0]):
            if not self.at(share):
                return
            action()

    def kill_worker(self) -> None:
        kind = self.rng.choice(self.cluster.workers)
        self.cluster.kill_and_restart(kind, self.rng.uniform(0.3, 2.0))
        self.faults.worker_kills[kind] += 1

    def translator_down(self) -> None:
        self.translator.state.down = True
        self.faults.counts["translator_outages"] += 1
        threading.Timer(0.2 * self.window_s, lambda: setattr(self.translator.state, "down", False)).start()

    def translator_flaky(self) -> None:
        self.translator.state.fail_next = 25
        self.faults.counts["translator_fail_bursts"] += 1

    def stop_triton(self) -> None:
        self.cluster.stop("triton", timeout_s=20)
        self.faults.counts["triton_stops"] += 1
        time.sleep(max(5.0, 0.08 * self.window_s))
        self.cluster.start_triton(wait=False)

    def restart_redis_under_runner(self) -> None:
        self.runner.run()
        self.faults.counts["redis_restarts_under_reclassify_runner"] += int(self.runner.restarted)

    def close_database(self) -> None:
        self.faults.counts["sql_outages"] += 1
        self.faults.counts["sql_outage_s"] += int(self.sql_outage.duration_s)
        self.sql_outage.run()

    def restart_redis(self) -> None:
        self.cluster.stop_redis()
        time.sleep(1.0)
        self.cluster.start_redis()
        self.faults.counts["redis_restarts"] += 1

    def lose_redis_data(self) -> None:
        self.cluster.wipe_redis()
        time.sleep(1.0)
        self.cluster.start_redis()
        self.faults.counts["redis_data_losses"] += 1

    def kill_writer_in_transaction(self, within_s: float = 20.0) -> None:
        """SIGKILL the writer the moment PostgreSQL shows its session inside a transaction."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.cluster.database_url)
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :app "
            "AND xact_start IS NOT NULL AND state IN ('active', 'idle in transaction')"
        )
        deadline = time.monotonic() + within_s
        try:
            with engine.connect() as conn:
                while time.monotonic() < deadline:
                    if conn.execute(query, {"app": WRITER_APP_NAME}).scalar_one():
                        self.cluster.kill_and_restart("writer", 0.5)
                        self.faults.counts["writer_sigkills_in_transaction"] += 1
                        return
                    conn.commit()
                    time.sleep(0.002)
            self.faults.counts["writer_transaction_not_caught"] += 1
        finally:
            engine.dispose()

    def forge(self) -> None:
        """Forged and future-stamped events written straight to the streams (chaos_forged.py)."""
        import redis

        client = redis.Redis(port=self.cluster.ports.redis)
        prefix = self.cluster.env["CATALOG_STREAM_PREFIX"]
        try:
            for stream, marker, payload in forged_entries(self.cluster.database_url):
                client.xadd(f"{prefix}{stream}", {"__data__": payload.encode()})
                self.faults.poisons.append((str(stream), marker))
                self.faults.counts["forged_events"] += 1
        finally:
            client.close()

    def poison(self) -> None:
        """Entries no worker can decode, on both lanes of four streams; each group reading
        one must dead-letter it (once)."""
        import redis

        client = redis.Redis(port=self.cluster.ports.redis)
        prefix = self.cluster.env["CATALOG_STREAM_PREFIX"]
        try:
            for stream in POISON_STREAMS:
                for lane, shape in itertools.product(
                    lanes_of(stream), ("{not json %s", '{"submission_id": "%s", "listing_id": "x"}')
                ):
                    marker = f"chaos-poison-{lane}-{uuid.uuid4().hex[:12]}"
                    client.xadd(
                        f"{prefix}{lane_stream(stream, lane)}", {"__data__": (shape % marker).encode()}
                    )
                    self.faults.poisons.append((str(stream), marker))
                    self.faults.counts["poisoned_entries"] += 1
        finally:
            client.close()


def run_chaos(options: ChaosOptions, print_line: Callable[[str], None]) -> bool:
    """Run the suite; True when every check held."""
    with tempfile.TemporaryDirectory(prefix="catalog-chaos-") as tmp:
        workdir = options.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if not options.redis_server.is_file():
            raise RuntimeError(f"{options.redis_server} not found: the suite needs the machine's Redis 7")
        repository = options.model_repository.resolve()
        _ensure_model(repository, workdir, options.seed)
        offers = _offers(workdir, options.n, options.resubmit_share, options.seed)
        deadline = time.monotonic() + options.timeout_s  # the run itself, not training or synth
        from shared.db.session import migrate, scratch_database

        with scratch_database(options.postgres_admin_url, "catalog_chaos") as db_url:
            migrate(db_url)
            return _run(options, workdir, repository, offers, db_url, deadline, print_line)


def _run(
    options: ChaosOptions,
    workdir: Path,
    repository: Path,
    offers: list[dict[str, Any]],
    db_url: str,
    deadline: float,
    print_line: Callable[[str], None],
) -> bool:
    from tools.standins.translator import StandinTranslator

    ports = Ports(options.port_base)
    ports.check_free()
    prefix = f"chaos-{uuid.uuid4().hex[:8]}:"
    env = base_env(ports, db_url, prefix, repository, workdir / "offers")
    env["CATALOG_RECONCILE_AFTER_S"] = str(options.reconcile_after_s)
    env["CATALOG_API_TOKEN"] = token = uuid.uuid4().hex
    cluster = Cluster(
        workdir, ports, env, db_url, repository, options.triton_venv, options.redis_server, worker_names()
    )
    translator = StandinTranslator(port=ports.translator).start()
    faults = Faults()
    started = time.monotonic()
    try:
        cluster.start_redis()
        cluster.start_triton(wait=False)  # workers start meanwhile: their inference waits for it
        for name in cluster.pipeline:
            cluster.start(name)
        cluster.wait_triton()
        cluster.wait_api()
        cluster.start_watchdog()
        print_line(f"chaos: pipeline up in {time.monotonic() - started:.0f} s; {len(offers)} submissions")
        window = min(120.0, max(20.0, len(offers) / 20))
        submitter = Submitter(ports.api, token, offers, window, faults)
        # Longer than reclaim x deliveries: before issue 24 it dead-lettered every offer in flight.
        outage = SqlOutage(
            cluster,
            options.postgres_admin_url,
            1.5 * RECLAIM_IDLE_MS / 1000 * MAX_DELIVERIES,
            options.drain_limit_s,
        )
        runner = RunnerUnderRedisRestart(cluster, workdir)
        plan = FaultPlan(cluster, translator, faults, window, options.seed, outage, runner)
        threads = [threading.Thread(target=t.run, daemon=True) for t in (submitter, plan)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(1.0, deadline - time.monotonic()))
        submitter.stop.set()
        plan.stop.set()
        expected_dead = sum(len(consumers_of(Stream(s))) for s, _ in faults.poisons)
        while time.monotonic() < deadline:  # until every submission is closed or the deadline
            if not submitter.done.is_set():
                time.sleep(1.0)
                continue
            if count_open(db_url) == 0 and len(dead_letters(ports.redis, prefix)) >= expected_dead:
                break
            time.sleep(2.0)
        time.sleep(3.0)  # let a late duplicate (if any) land before counting
        runner_problems = runner.finish(deadline - time.monotonic())
        outage.stop.set()
        verdict = check_store(db_url, ports.redis, prefix, submitter.accepted, faults.poisons)
        verdict.problems += runner_problems + outage.problems()
        if outage.drained_s is not None:
            faults.counts["sql_outage_drained_s"] = round(outage.drained_s)
        if len(submitter.accepted) != len(offers):
            verdict.problems.append(f"the API accepted {len(submitter.accepted)} of {len(offers)} offers")
    finally:
        cluster.close()
        translator.stop()
    faults.counts["worker_restarts_after_exit"] = sum(p.crashes for p in cluster.procs.values())
    faults.counts["translator_failed_calls"] = translator.state.failures
    print_line(faults.line())
    print_line(verdict.detail(time.monotonic() - started))
    if not verdict.ok:
        for problem in verdict.problems:
            print_line(f"chaos: FAILED {problem}")
    print_line(verdict.summary(expected_dead))
    return verdict.ok and verdict.dead_letters == expected_dead
