"""Sampling profiles of running workers (``catalog bench pipeline --profile DIR``).

py-spy (a dev extra) attaches to each worker's pid for the measured window and writes a
speedscope file per process (open it at https://www.speedscope.app); :func:`top_costs` names
the functions most samples were in, so the costs are read from the profile, not guessed.
``--nonblocking`` reads the worker's memory without pausing it: the profiled figures stay close
to an unprofiled run (py-spy's own CPU is reported apart, never counted as the pipeline's).
Attaching needs ptrace permission over the workers (the same user, and no Yama restriction or
``CAP_SYS_PTRACE`` in a container); without it py-spy exits and the failure is reported.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.bench.cpu import tree_cpu_s


def py_spy() -> str:
    """The py-spy executable: beside this interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("--profile needs py-spy: pip install -e '.[dev]' (it is pinned there)")
    return found


@dataclass
class Profilers:
    """One ``py-spy record --pid`` per named process, writing ``DIR/<name>.speedscope.json``."""

    folder: Path
    rate: int = 100
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)

    def start(self, pids: Mapping[str, int]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        program = py_spy()
        for name, pid in pids.items():
            out = self.folder / f"{name}.speedscope.json"
            log = (self.folder / f"{name}.py-spy.log").open("wb")
            command = [program, "record", "--pid", str(pid), "--rate", str(self.rate), "--nonblocking",
                       "--format", "speedscope", "--output", str(out)]  # fmt: skip
            with log:
                self.running[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def stop(self, timeout_s: float = 60) -> dict[str, Any]:
        """Stop every recorder (SIGINT: py-spy writes its file then) and summarise the profiles."""
        for name, proc in self.running.items():
            self.cpu_s[name] = tree_cpu_s(proc.pid) or 0.0
            proc.send_signal(signal.SIGINT)
        summary: dict[str, Any] = {}
        for name, proc in self.running.items():
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            path = self.folder / f"{name}.speedscope.json"
            log_path = self.folder / f"{name}.py-spy.log"
            if path.exists():
                summary[name] = {"file": path.name, **top_costs(json.loads(path.read_text()))}
                log_path.unlink(missing_ok=True)  # kept only when it says why there is no profile
            else:
                log = log_path.read_text(errors="replace").strip()
                summary[name] = {"error": log.splitlines()[-1] if log else f"py-spy exited {proc.returncode}"}
        return {"profiler_cpu_s": {k: round(v, 2) for k, v in self.cpu_s.items()}, "workers": summary}


def _label(frame: Mapping[str, Any], line: bool = True) -> str:
    where = str(frame.get("file", ""))
    for marker in ("site-packages/", "/services/", "/shared/", "/lib/python"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return (
        f"{frame.get('name', '?')} ({where}:{frame.get('line', '?')})"
        if line
        else f"{frame.get('name', '?')} ({where})"
    )


def _ours(frame: Mapping[str, Any]) -> bool:
    where = str(frame.get("file", ""))
    return ("/services/" in where or "/shared/" in where) and "/services/cli/" not in where


def top_costs(speedscope: Mapping[str, Any], top: int = 8) -> dict[str, Any]:
    """The functions with the most samples, as shares of all samples: ``self`` (the sample's
    innermost frame: where the time is spent) and ``inclusive`` (our own functions, services/
    and shared/ less the entry point, anywhere on the stack: which of our steps it is spent in).

    py-spy samples threads that are not idle, which includes a thread waiting for a core on a
    loaded machine or blocked in a system call: shares are of active time, not only CPU."""
    frames = speedscope["shared"]["frames"]
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()  # per function: py-spy has a frame per line
    total = 0.0
    samples = 0
    for profile in speedscope["profiles"]:  # one per thread; each stack is root first
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            total += weight
            samples += 1
            if stack:
                own[_label(frames[stack[-1]])] += weight
            for name in {_label(frames[i], line=False) for i in stack if _ours(frames[i])}:
                inclusive[name] += weight

    def ranked(counts: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": name, "share": round(w / total, 3)} for name, w in counts.most_common(top)]

    if not total:
        return {"samples": 0, "self": [], "inclusive": []}
    return {"samples": samples, "self": ranked(own), "inclusive": ranked(inclusive)}
