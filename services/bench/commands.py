"""Every ``catalog bench ...`` command, registered in one place (each writes one JSON file).

The measuring code lives beside this module; heavy libraries are imported by it, inside the
commands, so that ``catalog --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.bench.output import write_results
from services.cli.progress import progress_bar
from services.cli.registry import parse_replicas
from shared.config import Settings, get_settings
from shared.logging import configure_logging

console = Console(stderr=True)
out = Console()
bench_app = typer.Typer(help="Benchmarks that write JSON results.", no_args_is_help=True)

JsonOut = Annotated[Path, typer.Option("--json", help="Where to write the JSON results.")]
Data = Annotated[
    Path | None, typer.Option(help="Catalog (challenge layout) to take offers from; default: synthetic.")
]
Backend = Annotated[str | None, typer.Option(help="local or triton (default CATALOG_INFERENCE_BACKEND).")]
Replicas = Annotated[
    list[str] | None, typer.Option("--replicas", help="KIND=N processes of a kind (repeatable).")
]
RedisUrl = Annotated[
    str | None, typer.Option(help="An empty Redis to use; default: a private redis-server started here.")
]
RedisPort = Annotated[
    int | None, typer.Option(help="Port of the private redis-server (default: a free one).")
]
DatabaseUrl = Annotated[
    str | None, typer.Option(help="An empty database; default: a SQLite file in a temp dir.")
]


def _settings(backend: str | None = None) -> Settings:
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    if backend is not None:
        if backend not in ("local", "triton"):
            raise typer.BadParameter("expects local or triton", param_hint="--backend")
        settings = settings.model_copy(update={"inference_backend": backend})
    return settings


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]bench:[/red] {exc}")
    return typer.Exit(2)


@bench_app.command("language")
def bench_language(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results (JSON).")],
    n: Annotated[int, typer.Option("--n", min=1, help="Synthetic offers per mode.")] = 5000,
    translator: Annotated[
        list[str] | None,
        typer.Option(
            "--translator",
            help="none and/or standin (repeatable; default: none, and standin with --standin-url).",
        ),
    ] = None,
    standin_url: Annotated[
        str | None,
        typer.Option(
            help="The translation server of the standin mode (Google's protocol), e.g. the offline "
            "stand-in of a source checkout: `python -m tools.standins translator --port 5055`."
        ),
    ] = None,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Also run the real worker on Redis.")
    ] = True,
    rate_limit: Annotated[
        float, typer.Option("--rate-limit", min=0.1, help="Translation calls/s allowed (standin mode).")
    ] = 1000.0,
) -> None:
    """Offers/s through the language logic and the worker (Redis: CATALOG_REDIS_URL or embedded).

    Goal: at least 2,000 offers/s on one core without translation.
    """
    from services.bench.language import run_bench

    modes = translator or (["none", "standin"] if standin_url else ["none"])
    bad = [m for m in modes if m not in ("none", "standin")]
    if bad:
        raise typer.BadParameter(f"--translator must be none or standin, got {', '.join(bad)}")
    if "standin" in modes and not standin_url:
        raise typer.BadParameter("the standin mode needs --standin-url", param_hint="--translator")
    with console.status("benchmarking") as status:
        results = run_bench(
            get_settings(),
            n,
            modes,
            worker,
            rate_limit,
            standin_url,
            progress=lambda s: status.update(f"benchmarking: {s}"),
        )
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(results, indent=2) + "\n")
    for name, mode in results["modes"].items():
        for where, numbers in mode.items():
            console.print(f"{name:8} {where:7} {numbers['offers_per_s']:>9} offers/s")
    console.print(f"wrote {json_out}")


@bench_app.command("inference")
def bench_inference(
    json_out: JsonOut,
    data: Data = None,
    n: Annotated[int, typer.Option(help="Offers to encode.")] = 256,
    batch_size: Annotated[int, typer.Option(help="Offers per inference request.")] = 32,
) -> None:
    """Offers/s through the text and image encoders and fusion on the configured backend."""
    from services.bench.inference import run_bench

    try:
        body = asyncio.run(run_bench(_settings(), data, n, batch_size))
    except (FileNotFoundError, LookupError, ValueError) as exc:
        raise _fail(exc) from exc
    write_results(json_out, body, console)


@bench_app.command("explain")
def bench_explain(
    json_out: JsonOut,
    data: Data = None,
    n: Annotated[
        int, typer.Option(help="Offers to time (plus as many per known-by-construction check).")
    ] = 30,
) -> None:
    """Explanation time per offer on the configured backend and models, and how often the piece
    that decides an offer by construction (a category word, a pasted product photo) ranks first."""
    from services.bench.explain import run_bench

    try:
        body = asyncio.run(run_bench(_settings(), data, n))
    except (FileNotFoundError, LookupError, ValueError) as exc:
        raise _fail(exc) from exc
    write_results(json_out, body, console)


@bench_app.command("queries")
def bench_queries(
    json_out: Annotated[
        Path, typer.Option("--json", help="Where to write the results (plans: <name>-plans.txt).")
    ],
    predictions: Annotated[int, typer.Option(min=100, help="Predictions to seed (in bulk).")] = 100_000,
    repeats: Annotated[int, typer.Option(min=1, help="Timed runs per read (after one warm-up).")] = 30,
    admin_url: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL URL allowed to CREATE DATABASE (default: CATALOG_DATABASE_URL if "
            "PostgreSQL, else CATALOG_TEST_POSTGRES_URL, else the local server)."
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="Seed into this existing PostgreSQL database and keep it; one that already holds "
            "predictions is reused as it is (seed 10M once, time many times)."
        ),
    ] = None,
    seed_only: Annotated[
        bool, typer.Option(help="Seed --database-url and write the seeding figures only (time later).")
    ] = False,
) -> None:
    """Seed N predictions in bulk (a database of its own, dropped after, unless --database-url),
    then time every dashboard and API read (p50/p95/p99) and save each statement's plan."""
    from services.bench.api import run_bench

    settings = get_settings()
    url = admin_url or (
        settings.database_url
        if (settings.database_url or "").startswith("postgresql")
        else os.environ.get("CATALOG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    )
    assert url is not None
    with progress_bar(field="note", console=console) as bar:
        task = bar.add_task("seeding", total=predictions, note="")
        result, plans = run_bench(
            url, predictions, repeats, settings.low_confidence_threshold, database_url,
            lambda _phase, n: bar.advance(task, n), seed_only,
        )  # fmt: skip
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2))
    if seed_only:
        console.print(f"seeded: {result['seeding']}; wrote {json_out}")
        return
    plans_out = json_out.with_name(json_out.stem + "-plans.txt")
    plans_out.write_text(plans)
    table = Table("read", "p50 ms", "p95 ms", "goal", "met")
    for name, r in result["queries"].items():
        met = "yes" if r["under_goal"] else "NO"
        table.add_row(name, f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}", f"{r['goal_ms']:.0f}", met)
    out.print(table)
    console.print(f"wrote {json_out} and {plans_out}")


@bench_app.command("write-cost")
def bench_write_cost(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.")],
    events: Annotated[int, typer.Option(min=100, help="Predictions written per measurement.")] = 20_000,
    batch: Annotated[int, typer.Option(min=1, help="Predictions per write (the writer's batch).")] = 100,
    rounds: Annotated[int, typer.Option(min=1, help="Alternating before/after measurements.")] = 3,
    admin_url: Annotated[str | None, typer.Option(help="PostgreSQL URL allowed to CREATE DATABASE.")] = None,
    before: Annotated[
        str, typer.Option(help="The schema compared with head: 0010_prediction_counts or 0009_taxonomy.")
    ] = "0010_prediction_counts",
) -> None:
    """The writer's store path (write_predictions) in rows/s at an older schema and at head (the
    dashboards' rollups of migrations 0010 and 0011), each on a fresh database."""
    from services.bench.write_cost import run_write_cost

    url = admin_url or os.environ.get(
        "CATALOG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    result = run_write_cost(url, events, batch, rounds, before)
    write_results(json_out, result, console)


@bench_app.command("redis-memory")
def bench_redis_memory(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.")],
    n: Annotated[
        int, typer.Option(min=100, help="Offers whose events are published on every stream.")
    ] = 10_000,
) -> None:
    """Redis bytes per pending entry of each stream and per submission waiting in the fusion join
    (MEMORY USAGE and INFO memory; a private prefix of the configured Redis, deleted after)."""
    from services.bench.redis_memory import run_redis_memory

    write_results(json_out, run_redis_memory(_settings(), n), console)


@bench_app.command("train-memory")
def bench_train_memory(
    n: Annotated[list[int] | None, typer.Option("--n", help="Catalog sizes (repeatable).")] = None,
    work: Annotated[Path, typer.Option(help="Scratch dir (pixel caches, photos).")] = Path(
        "var/bench/train-memory"
    ),
    size: Annotated[int, typer.Option(help="Training image size.")] = 224,
    side: Annotated[int, typer.Option(help="Source photo side in pixels.")] = 500,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.")] = Path(
        "var/bench/train-memory.json"
    ),
) -> None:
    """Peak RSS of the streamed image path (pixel cache, training batches, scoring) per catalog
    size, each size in a fresh process (services.bench.memory_bench)."""
    results = []
    for count in n or [6000, 24000]:
        command = [sys.executable, "-m", "services.bench.memory_bench", "--n", str(count)]
        command += ["--work", str(work), "--size", str(size), "--side", str(side)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            console.print(f"[red]bench failed at n={count}:[/red] {done.stderr[-2000:]}")
            raise typer.Exit(1)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        console.print_json(json.dumps(results[-1]))
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps({"runs": results}, indent=2), "utf-8")


@bench_app.command("pipeline")
def bench_pipeline(
    json_out: JsonOut,
    listings: Annotated[int, typer.Option(min=1, help="Offers to classify.")] = 2000,
    data: Data = None,
    backend: Backend = None,
    replicas: Replicas = None,
    limit_batch: Annotated[int, typer.Option(min=1, help="Batch of the in-process limit run.")] = 64,
    naive_offers: Annotated[int, typer.Option(min=1, help="Offers the naive way runs on.")] = 200,
    redis_url: RedisUrl = None,
    redis_port: RedisPort = None,
    database_url: DatabaseUrl = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every prediction.")] = 1800,
    profile: Annotated[
        Path | None,
        typer.Option(help="Save a py-spy profile (speedscope) of each worker over the measured window here."),
    ] = None,
) -> None:
    """The pipeline as separate worker processes on a real Redis, against its limit (same models,
    one process, batched, no queue) and the naive way (one offer at a time), in one run."""
    from services.bench.pipeline import run_bench

    settings = _settings(backend)
    counts = _replicas(replicas)
    try:
        body = asyncio.run(
            run_bench(
                settings, data, listings, counts, limit_batch, naive_offers,
                redis_url, database_url, redis_port, timeout, profile,
            )
        )  # fmt: skip
    except (FileNotFoundError, LookupError, ValueError, RuntimeError) as exc:
        raise _fail(exc) from exc
    write_results(json_out, body, console)


@bench_app.command("tracing")
def bench_tracing(
    json_out: JsonOut,
    offers: Annotated[int, typer.Option(min=1, help="Offers through the six hops per mode.")] = 5000,
    batch: Annotated[int, typer.Option(min=1, help="Events per batch (CATALOG_BATCH_SIZE).")] = 32,
    port: Annotated[int, typer.Option(help="Port of the OTLP/HTTP receiver started here.")] = 4318,
) -> None:
    """CPU per offer that tracing adds (spans of the six hops, trace fields in the JSON, OTLP
    export), off vs on at sample ratio 1.0 and 0.01, in one process without the queue."""
    from services.bench.tracing_cost import run_tracing_cost

    write_results(json_out, run_tracing_cost(_settings(), offers, batch, port), console)


@bench_app.command("live")
def bench_live(
    json_out: JsonOut,
    listings: Annotated[
        int,
        typer.Option(
            min=1, help="Stored offers the bulk job reclassifies (it must outlast live x interval)."
        ),
    ] = 3000,
    live: Annotated[
        int, typer.Option(min=1, help="Live offers measured per phase (200: p99 is the 2nd slowest).")
    ] = 200,
    interval: Annotated[float, typer.Option(help="Seconds between two live offers.")] = 0.2,
    max_in_flight: Annotated[int, typer.Option(min=1, help="The bulk job's throttle.")] = 256,
    data: Data = None,
    backend: Backend = None,
    replicas: Replicas = None,
    redis_url: RedisUrl = None,
    redis_port: RedisPort = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Live-offer latency (p50/p99) on an idle pipeline, then while a bulk reclassification keeps
    it saturated (throttled by --max-in-flight)."""
    from services.bench.live import run_bench

    settings = _settings(backend)
    counts = _replicas(replicas)
    try:
        body = asyncio.run(
            run_bench(
                settings, data, listings, live, interval, max_in_flight, counts,
                redis_url, database_url, redis_port,
            )
        )  # fmt: skip
    except (FileNotFoundError, LookupError, ValueError, RuntimeError) as exc:
        raise _fail(exc) from exc
    write_results(json_out, body, console)


@bench_app.command("ingest")
def bench_ingest(
    json_out: JsonOut,
    n: Annotated[list[int] | None, typer.Option("--n", help="Rows per file (repeatable).")] = None,
    bad_every: Annotated[int, typer.Option(min=0, help="One bad row in this many (0: none).")] = 100,
    work: Annotated[Path, typer.Option(help="Scratch dir for the generated files.")] = Path(
        "var/bench/ingest"
    ),
    keep: Annotated[bool, typer.Option("--keep", help="Keep the generated files.")] = False,
    sink: Annotated[
        str,
        typer.Option(help="dry-run (validate and serialise) or pipeline (SQLite + Redis, private prefix)."),
    ] = "dry-run",
) -> None:
    """Peak RSS of streaming `catalog ingest` per file size (each in a fresh process, into a
    dry-run sink that validates and serialises), and whether every bad row is named."""
    from services.bench.ingest import run_sizes

    try:
        if sink not in ("dry-run", "pipeline"):
            raise typer.BadParameter("expects dry-run or pipeline", param_hint="--sink")
        body = run_sizes(n or [100_000, 1_000_000], bad_every, work, keep, console, sink)
    except RuntimeError as exc:
        raise _fail(exc) from exc
    write_results(json_out, body, console)


@bench_app.command("project")
def bench_project(
    json_out: JsonOut,
    from_json: Annotated[
        Path, typer.Option("--from", exists=True, dir_okay=False, help="A `catalog bench pipeline` JSON.")
    ],
    gpu_json: Annotated[
        Path, typer.Option("--gpu", exists=True, dir_okay=False, help="A GPU bench JSON (gpu-bench.sh).")
    ] = Path("docs/benchmarks/gpu-bench-h200.json"),
    text_model: Annotated[str, typer.Option(help="The GPU bench's text model to project with.")] = "minilm",
    offers: Annotated[int, typer.Option(min=1, help="Offers to classify.")] = 84_916,
    cores: Annotated[
        int | None, typer.Option(min=1, help="CPU cores of the box (default: the GPU bench's).")
    ] = None,
) -> None:
    """The full catalog on one GPU box, projected from a pipeline run's measured CPU costs per
    stage and a GPU bench's measured model, decode and tokenizer rates (a Markdown table too)."""
    from services.bench.projection import markdown, projections

    try:
        pipeline = json.loads(from_json.read_text("utf-8"))
        gpu = json.loads(gpu_json.read_text("utf-8"))
        body = projections(pipeline, gpu, text_model, offers, cores)
    except (KeyError, LookupError, ValueError) as exc:
        raise _fail(exc) from exc
    body["inputs"] = {"pipeline": str(from_json), "gpu": str(gpu_json)}
    out.print(markdown(body), markup=False, soft_wrap=True)
    write_results(json_out, body, console)


@bench_app.command("fullsize")
def bench_fullsize(
    json_out: JsonOut,
    data: Annotated[
        Path | None, typer.Option(help="A full catalog (challenge layout) to use as it is; default: tiled.")
    ] = None,
    base: Annotated[
        Path | None,
        typer.Option(help="Synthetic catalog to tile up to the real class counts (default: synthesized)."),
    ] = None,
    base_n: Annotated[int, typer.Option(min=27, help="Offers of the synthesized base.")] = 4000,
    n: Annotated[
        int | None, typer.Option(min=27, help="Offers, in the real shares (default: the real 84,916).")
    ] = None,
    work: Annotated[Path, typer.Option(help="Scratch dir: catalog, logs, the private Redis.")] = Path(
        "var/bench/fullsize"
    ),
    database_url: Annotated[
        str | None, typer.Option(help="An empty database; default: a scratch PostgreSQL database, dropped.")
    ] = None,
    replicas: Replicas = None,
    limit_offers: Annotated[int, typer.Option(min=1, help="Offers the in-process limit runs on.")] = 2000,
    max_in_flight: Annotated[int, typer.Option(min=1, help="The reclassification job's throttle.")] = 1000,
    kill_at: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Job fraction completed when its runner is SIGKILLed.")
    ] = 0.4,
    lease: Annotated[float, typer.Option(help="The workers' job lease (s): the takeover wait.")] = 30.0,
    redis_port: RedisPort = None,
    sample_every: Annotated[float, typer.Option(help="Seconds between two load/memory samples.")] = 30.0,
) -> None:
    """The whole catalog end to end: `catalog ingest` into the running workers, then a
    reclassification job of every listing with its runner SIGKILLed once mid-job; exactly once
    checked in SQL, throughput against the in-process limit, peak memory of every process."""
    from services.bench.fullsize import FullsizeOptions, run_bench, scratch_or
    from services.bench.fullsize_catalog import MANIFEST, tile_catalog

    settings = _settings()
    options = FullsizeOptions(
        limit_offers=limit_offers, max_in_flight=max_in_flight, kill_at=kill_at, lease_s=lease,
        replicas=_replicas(replicas), redis_port=redis_port, sample_every_s=sample_every,
    )  # fmt: skip
    manifest = None
    if data is None:
        if base is None:
            from training.synth import generate_catalog

            base = work / f"base-{base_n}"
            console.log(f"synthesizing the {base_n}-offer base in {base}")
            generate_catalog(base, base_n, 7)
        data = work / "catalog"
        console.log(f"tiling {base} up to the real class counts in {data}")
        manifest = tile_catalog(base, data, n)
    try:
        with scratch_or(database_url) as url:
            body = asyncio.run(run_bench(settings, data, url, work, options, console.log))
    except (FileNotFoundError, LookupError, ValueError, RuntimeError) as exc:
        raise _fail(exc) from exc
    if manifest is None and (data / MANIFEST).exists():  # a catalog tiled beforehand
        manifest = json.loads((data / MANIFEST).read_text("utf-8"))
    write_results(json_out, {**body, "tiled_catalog": manifest}, console)


def _replicas(items: list[str] | None) -> dict[str, int]:
    try:
        return parse_replicas(items or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--replicas") from exc
