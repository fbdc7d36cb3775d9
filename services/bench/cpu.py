"""CPU time from the OS, per process, over a measured window (issue 27: where the plumbing goes).

Wall-clock throughput on shared cores drifts with the machine's load; CPU seconds per offer do
not (much), so the pipeline benchmark reports both. A process's CPU is user + system time from
``/proc/<pid>/stat``, plus that of its children: the reaped ones (``cutime``/``cstime``) and the
ones still running (their own ``/proc`` entries, found by parent pid). Threads are included by
the kernel. In this process, ``time.process_time()`` counts every thread (ONNX Runtime's pool,
the photo decoders).

The plumbing cost of a stage (:func:`plumbing`) is the CPU its worker processes spent per offer
in the pipeline minus the CPU the same stage's functions spent per offer in the in-process limit
run (same models, same offers, no queue, no Redis, no SQL): what the queue, the encoding of
events, Redis, logging and the rest add around the model work.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/<pid>/stat`` (after the command name, which may hold spaces)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def own_cpu_s(pid: int) -> float | None:
    """User + system seconds of ``pid`` and its reaped children; None once it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # fields[0] is field 3 (state): utime, stime, cutime, cstime are fields 14-17.
    return sum(int(f) for f in fields[11:15]) / TICKS


def descendants(pid: int) -> list[int]:
    """Live descendants of ``pid`` (children, their children...)."""
    parents: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found.extend(children)
        todo.extend(children)
    return found


def tree_cpu_s(pid: int) -> float | None:
    """CPU seconds of ``pid`` with all its children, reaped or running; None once it is gone."""
    own = own_cpu_s(pid)
    if own is None:
        return None
    return own + sum(own_cpu_s(child) or 0.0 for child in descendants(pid))


class CpuWindow:
    """CPU seconds each named process spent between :meth:`start` and :meth:`stop`.

    A process that was restarted (another pid) or is gone by :meth:`stop` reads None: its
    window is unknown, not zero.
    """

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self.before: dict[str, float | None] = {}
        self.seconds: dict[str, float | None] = {}

    def start(self) -> None:
        self.before = {name: tree_cpu_s(pid) for name, pid in self.pids.items()}

    def stop(self, pids: Mapping[str, int] | None = None) -> dict[str, float | None]:
        """Seconds per process; ``pids``: current pids of some (a different one: restarted)."""
        now = {**self.pids, **(pids or {})}
        for name, pid in self.pids.items():
            before = self.before.get(name)
            after = tree_cpu_s(pid) if now.get(name) == pid else None
            self.seconds[name] = None if before is None or after is None else round(after - before, 3)
        return self.seconds


@contextlib.contextmanager
def counted(into: dict[str, float], key: str) -> Iterator[None]:
    """Add this process's CPU seconds (every thread) spent in the block to ``into[key]``."""
    started = time.process_time()
    try:
        yield
    finally:
        into[key] = into.get(key, 0.0) + time.process_time() - started


def per_offer_ms(seconds: float | None, offers: int) -> float | None:
    return None if seconds is None else round(seconds * 1000 / max(1, offers), 3)


def plumbing(
    pipeline_ms: Mapping[str, float | None], model_ms: Mapping[str, float]
) -> dict[str, float | None]:
    """Per stage: pipeline CPU ms per offer minus the in-process run's ms per offer of that stage
    (0 for a stage the limit does not run, e.g. the writer or Redis), and their ``total``."""
    out: dict[str, float | None] = {
        stage: None if ms is None else round(ms - model_ms.get(stage, 0.0), 3)
        for stage, ms in pipeline_ms.items()
    }
    known = [v for v in out.values() if v is not None]
    out["total"] = round(sum(known), 3) if len(known) == len(out) else None
    return out
