"""Small helpers every pipeline benchmark shares: percentiles, machine facts, peak RSS."""

from __future__ import annotations

import math
import os
import platform
import resource
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

# Stage spans measured from the timestamps each event carries (docs/architecture.md §2).
STAGES: dict[str, tuple[str, str]] = {
    "language": ("submitted", "prepared"),
    "text_encoder": ("prepared", "text_encoded"),
    "image_encoder": ("submitted", "image_encoded"),
    "fusion": ("halves", "classified"),
    "writer": ("classified", "written"),
    "end_to_end": ("submitted", "written"),
}


def percentiles(values: Sequence[float], points: Iterable[int] = (50, 95, 99)) -> dict[str, float]:
    """Nearest-rank percentiles in milliseconds (values are seconds); empty in, empty out."""
    if not values:
        return {}
    ordered = sorted(values)
    out: dict[str, float] = {}
    for p in points:
        rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
        out[f"p{p}"] = round(ordered[rank] * 1000, 1)
    out["max"] = round(ordered[-1] * 1000, 1)
    return out


def stage_latencies(rows: Iterable[dict[str, datetime]]) -> dict[str, dict[str, float]]:
    """p50/p95/p99 per stage and end to end, from each prediction's stage timestamps.

    Each row maps stage names to datetimes (``written`` is when the writer stored it). A stage
    span includes the time its input waited in the stream.
    """
    spans: dict[str, list[float]] = {name: [] for name in STAGES}
    for ts in rows:
        for name, seconds in stage_spans(ts).items():
            spans[name].append(seconds)
    return {name: percentiles(values) for name, values in spans.items() if values}


def stage_spans(ts: dict[str, datetime]) -> dict[str, float]:
    """One prediction's stage spans in seconds (fusion starts when its later half arrived)."""
    halves = [ts[k] for k in ("text_encoded", "image_encoded") if k in ts]
    points = dict(ts)
    if halves:
        points["halves"] = max(halves)
    return {
        name: (points[end] - points[start]).total_seconds()
        for name, (start, end) in STAGES.items()
        if start in points and end in points
    }


def machine() -> dict[str, Any]:
    """What the numbers were measured on (absolute figures drift on shared machines)."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next(
                (line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), ""
            )
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": load,
    }


def peak_rss_mb(pid: int | None = None) -> float | None:
    """Peak resident memory (``VmHWM``, MiB) of ``pid``, or of this process when None.

    Not ``ru_maxrss``: Linux carries that over ``exec`` from the forked parent, so a child
    started by a 118 MiB CLI never reads lower (it is the fallback where /proc is missing)."""
    try:
        with open(f"/proc/{pid or 'self'}/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None if pid else round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return None
    return None
