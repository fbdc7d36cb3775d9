"""CPU accounting of the pipeline benchmark: OS figures per process (children included), the
in-process stage counters, the plumbing arithmetic and the profile summary."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from services.bench.cpu import CpuWindow, counted, descendants, own_cpu_s, plumbing, tree_cpu_s
from services.bench.pipeline import cpu_report
from services.bench.profiling import top_costs

# Burns ``S`` CPU seconds (by its own clock, so a loaded machine only makes it slower), says so.
BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"


def python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=60)


def test_a_window_attributes_a_child_processs_burn_to_it() -> None:
    proc = python(BURN.format(s=0.4) + "print('burnt', flush=True)\nimport sys\nsys.stdin.read()")
    window = CpuWindow({"burner": proc.pid})
    window.start()
    assert proc.stdout is not None and proc.stdout.readline().strip() == "burnt"
    seconds = window.stop()["burner"]
    finish(proc)
    assert seconds is not None and 0.3 <= seconds < 60


def test_children_count_whether_running_or_reaped() -> None:
    # The parent burns nothing itself: one child burns and is reaped, another burns and lives on.
    code = (
        "import subprocess, sys\n"
        f"burn = {BURN.format(s=0.3)!r}\n"
        "subprocess.run([sys.executable, '-c', burn], check=True)\n"
        "live = subprocess.Popen([sys.executable, '-c', burn + 'print(1, flush=True)\\nimport time\\n"
        "time.sleep(60)'], stdout=subprocess.PIPE, text=True)\n"
        "live.stdout.readline()\n"
        "print(live.pid, flush=True)\n"
        "sys.stdin.read()\n"
        "live.kill()\n"
    )
    proc = python(code)
    try:
        assert proc.stdout is not None
        live = int(proc.stdout.readline())
        assert live in descendants(proc.pid)
        own, tree = own_cpu_s(proc.pid), tree_cpu_s(proc.pid)
        assert own is not None and tree is not None
        assert own >= 0.25  # the reaped child (cutime + cstime)
        assert tree - own >= 0.25  # the running one
    finally:
        finish(proc)


def test_a_restarted_or_gone_process_reads_unknown_not_zero() -> None:
    proc = python("import sys\nsys.stdin.read()")
    window = CpuWindow({"worker": proc.pid})
    window.start()
    assert window.stop({"worker": proc.pid + 1_000_000})["worker"] is None  # another pid: restarted
    finish(proc)
    assert window.stop()["worker"] is None  # gone
    assert tree_cpu_s(proc.pid) is None


def test_counted_includes_this_processs_other_threads() -> None:
    spent: dict[str, float] = {}

    def burn() -> None:
        t = time.thread_time()
        while time.thread_time() - t < 0.3:
            pass

    with counted(spent, "stage"):
        thread = threading.Thread(target=burn)
        thread.start()
        thread.join()
    with counted(spent, "stage"):  # adds up
        pass
    assert 0.25 <= spent["stage"] < 60


def test_plumbing_is_the_pipelines_cpu_minus_the_same_stage_in_process() -> None:
    out = plumbing({"language": 1.0, "writer": 0.5, "redis": 0.25}, {"language": 0.4, "fusion": 3.0})
    assert out == {"language": 0.6, "writer": 0.5, "redis": 0.25, "total": 1.35}
    assert plumbing({"language": 1.0, "redis": None}, {})["total"] is None  # one unknown: no total


def test_cpu_report_sums_replicas_per_stage() -> None:
    pipeline = {
        "cpu_s": {"fusion-1": 1.0, "fusion-2": 0.5, "image-encoder-1": 4.0, "redis": 0.5},
        "bench_cpu_s": 0.1,
    }
    reference = {"limit_cpu_ms_per_offer": {"fusion": 0.5, "image-encoder": 3.0, "total": 3.6}}
    report = cpu_report(pipeline, reference, 1000)
    assert report["cpu_ms_per_offer"]["stages"] == {"fusion": 1.5, "image-encoder": 4.0, "redis": 0.5}
    assert report["cpu_ms_per_offer"]["total"] == 6.0
    assert report["plumbing_ms_per_offer"] == {
        "fusion": 1.0,
        "image-encoder": 1.0,
        "redis": 0.5,
        "total": 2.5,
    }


def test_top_costs_ranks_innermost_and_inclusive_frames() -> None:
    frames = [
        {"name": "main", "file": "/x/services/cli/main.py", "line": 1},
        {"name": "dumps", "file": "/v/site-packages/pydantic/main.py", "line": 9},
        {"name": "execute", "file": "/v/site-packages/sqlalchemy/engine.py", "line": 5},
    ]
    profile = {"samples": [[0, 1], [0, 1], [0, 2], [0]], "weights": [0.01] * 4}
    costs = top_costs({"shared": {"frames": frames}, "profiles": [profile]})
    assert costs["samples"] == 4
    assert costs["self"][0] == {"function": "dumps (pydantic/main.py:9)", "share": 0.5}
    assert costs["inclusive"] == []  # libraries and the entry point are not our steps
    frames[0]["file"] = "/x/services/fusion/worker.py"
    costs = top_costs({"shared": {"frames": frames}, "profiles": [profile]})
    assert costs["inclusive"] == [{"function": "main (fusion/worker.py)", "share": 1.0}]  # ours only
    assert top_costs({"shared": {"frames": []}, "profiles": []})["self"] == []


def test_profiling_without_py_spy_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.bench import profiling

    monkeypatch.setattr(profiling.sys, "executable", "/nonexistent/python")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match=r"py-spy: pip install -e '\.\[dev\]'"):
        profiling.py_spy()
