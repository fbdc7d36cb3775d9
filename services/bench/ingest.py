"""Peak memory of streaming ``catalog ingest`` against the file's size (``catalog bench ingest``).

Each size runs in a fresh process, so its peak RSS (``VmHWM``) is that size's alone:

    python -m services.bench.ingest generate --n 100000 --dir D   (the CSV, written streaming)
    python -m services.bench.ingest ingest --dir D                (one JSON line on stdout)

The ingest goes through the real reader, validation, batching, event construction and JSON
serialisation into a dry-run sink (``DryRunSink``: no Redis, no SQL), so the figure is the
ingest path's own memory. One row in ``1/bad_every`` is bad, cycling through the kinds the
issue names (NUL byte, 200-character productid, invalid UTF-8, over-long title, blank
productid, an id outside the grammar; every tenth cycle a description over 131,072 characters);
``expected_bad`` lists their numbers so the rejects file can be checked against them.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from services.api.ingest_rows import FIELD_LIMIT, Source, find_source
from services.api.ingest_run import DryRunSink, IngestOptions, IngestSummary, ingest_file, ingest_to_pipeline
from services.bench.stats import peak_rss_mb

WORDS = (  # noqa: SIM905 (a word list is easier to read as text)
    "lot de livre roman enfant jeu console manette piscine jardin lampe bureau chaise "
    "poupée figurine carte collection neuf occasion boîte complète édition rare coffret "
    "saison accessoire câble chargeur coque protection décoration cuisine outil perceuse "
    "vélo"
).split()
SINKS = {
    "dry-run": "dry-run: each event validated and serialised to JSON as published; no Redis, no SQL",
    "pipeline": "pipeline: SQLite ledger and listings, the configured Redis under a private prefix "
    "(deleted after)",
}
BAD_KINDS = ("nul", "long_id", "bad_utf8", "long_title", "blank_id", "outside_grammar")


def peak_rss_mib() -> float:
    """This process image's peak RSS (``VmHWM``)."""
    return peak_rss_mb() or 0.0


def is_bad(row: int, bad_every: int) -> bool:
    return bad_every > 0 and row % bad_every == bad_every // 2


def expected_bad(n: int, bad_every: int) -> Iterator[int]:
    return (row for row in range(1, n + 1) if is_bad(row, bad_every))


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def generate(folder: Path, n: int, bad_every: int = 100, seed: int = 0) -> dict[str, object]:
    """Write ``folder/X_train_update.csv`` with ``n`` rows, row by row (about 0.7 KB each)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    path = folder / "X_train_update.csv"
    bad = 0
    with path.open("w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "designation", "description", "productid", "imageid"])
        for row in range(1, n + 1):
            title, description = _text(rng, rng.randint(4, 14)), f"<p>{_text(rng, rng.randint(20, 140))}</p>"
            product, image = str(4_000_000_000 + row), str(1_000_000_000 + row)
            if is_bad(row, bad_every):
                kind = "long_description" if bad % 60 == 59 else BAD_KINDS[bad % len(BAD_KINDS)]
                title, description, product = _spoil(kind, title, description, product)
                bad += 1
            writer.writerow([row - 1, title, description, product, image])
    return {"rows": n, "bad_rows": bad, "file_mib": round(path.stat().st_size / 2**20, 1)}


def _spoil(kind: str, title: str, description: str, product: str) -> tuple[str, str, str]:
    if kind == "nul":
        return title + "\x00", description, product
    if kind == "long_id":
        return title, description, "9" * 200
    if kind == "bad_utf8":
        return title + "\udce9", description, product  # written as the lone byte 0xE9
    if kind == "long_title":
        return "t" * 1001, description, product
    if kind == "blank_id":
        return title, description, ""
    if kind == "outside_grammar":
        return title, description, f"shop/{product}"
    return title, "d" * 131_073, product  # long_description: over the csv module's default limit


def ingest(folder: Path, chunk: int, sink_kind: str = "dry-run") -> dict[str, object]:
    """Ingest ``folder``; peak RSS and what the summary and rejects say.

    ``dry-run``: a sink that validates and serialises; ``pipeline``: the real path, to the
    configured Redis under a private stream prefix (deleted afterwards) with a SQLite ledger in
    ``folder``."""
    before = peak_rss_mib()  # the imports
    started = time.monotonic()
    source = find_source(folder)
    sink = DryRunSink()
    if sink_kind == "pipeline":
        summary = _ingest_pipeline(source, folder, chunk)
        sink.payload_bytes = 0
    else:
        summary = asyncio.run(ingest_file(source, sink, IngestOptions(chunk=chunk)))
    seconds = time.monotonic() - started
    return {
        "sink": sink_kind,
        "file_mib": round(source.size / 2**20, 1),
        "rows": summary.rows,
        "published": summary.published,
        "rejected": summary.rejected,
        "rejects_file": summary.rejects_file,
        "serialised_mib": round(sink.payload_bytes / 2**20, 1),
        "seconds": round(seconds, 1),
        "rows_per_s": round(summary.rows / seconds) if seconds else None,
        "peak_rss_mib_before_ingest": before,
        "peak_rss_mib": peak_rss_mib(),
    }


def _ingest_pipeline(source: Source, folder: Path, chunk: int) -> IngestSummary:
    import redis

    from shared.config import get_settings
    from shared.redis_conn import resolve_redis_url

    prefix = f"bench-ingest-{uuid.uuid4().hex[:8]}:"
    settings = get_settings().model_copy(
        update={"stream_prefix": prefix, "database_url": f"sqlite:///{folder.resolve()}/ledger.db"}
    )
    try:
        return asyncio.run(ingest_to_pipeline(settings, source, IngestOptions(chunk=chunk)))
    finally:
        client = redis.Redis.from_url(resolve_redis_url(settings))
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
        client.close()


def check_rejects(rejects_file: Path | None, n: int, bad_every: int) -> dict[str, object]:
    """Does the rejects file name every bad row, each with a reason, and nothing else?"""
    named: dict[int, str] = {}
    csv.field_size_limit(FIELD_LIMIT)  # the rejects hold the over-long fields too
    if rejects_file is not None:
        with rejects_file.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
            for record in csv.DictReader(handle):
                named[int(record["source_row"])] = record["reason"]
    expected = set(expected_bad(n, bad_every))
    reasons: dict[str, int] = {}
    for reason in named.values():
        key = reason.split(":")[0] + ": " + reason.split(":")[1].strip().split(",")[0][:40]
        reasons[key] = reasons.get(key, 0) + 1
    return {
        "expected_bad": len(expected),
        "named_in_rejects_file": len(named),
        "every_bad_row_named": set(named) == expected and all(named.values()),
        "reasons": dict(sorted(reasons.items())),
    }


def _child(*args: str) -> dict[str, object]:
    command = [sys.executable, "-m", "services.bench.ingest", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr[-2000:]}")
    body: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return body


def run_sizes(
    sizes: list[int], bad_every: int, work: Path, keep: bool, console: Console, sink: str = "dry-run"
) -> dict[str, object]:
    """Generate and ingest each size in fresh processes; the peak RSS ratio across sizes."""
    runs = []
    for n in sizes:
        folder = work / f"rows-{n}"
        console.print(f"generating {n:,} rows in {folder}")
        made = _child("generate", "--dir", str(folder), "--n", str(n), "--bad-every", str(bad_every))
        console.print(f"ingesting {made['file_mib']} MiB")
        run = _child("ingest", "--dir", str(folder), "--sink", sink)
        rejects = run.pop("rejects_file")
        run["generator_peak_rss_mib"] = made["peak_rss_mib"]
        run.update(check_rejects(Path(str(rejects)) if rejects else None, n, bad_every))
        run["published_all_good_rows"] = run["published"] == n - int(str(run["expected_bad"]))
        runs.append(run)
        console.print_json(json.dumps(run))
        if not keep:
            shutil.rmtree(folder)
    peaks = [float(str(r["peak_rss_mib"])) for r in runs]
    return {
        "benchmark": "catalog bench ingest",
        "sink": SINKS[sink],
        "bad_every": bad_every,
        "runs": runs,
        "peak_rss_ratio_max_over_min": round(max(peaks) / min(peaks), 3),
        "within_20_percent": max(peaks) <= 1.2 * min(peaks),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=["generate", "ingest"])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--bad-every", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--sink", choices=["dry-run", "pipeline"], default="dry-run")
    args = parser.parse_args()
    if args.step == "generate":
        body = generate(args.dir, args.n, args.bad_every)
    else:
        body = ingest(args.dir, args.chunk, args.sink)
    body["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(body))


if __name__ == "__main__":
    main()
