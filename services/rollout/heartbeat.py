"""A heartbeat file for a loop that serves no HTTP: the model-rollout controller.

``catalog rollout --watch`` never exits on a failed pass (it retries), so its process being up
says nothing; a loop stuck in a call that never returns would go unseen. Each iteration writes
:func:`beat` (the time, and whether the pass succeeded); the probes run this module:

* liveness (``python -m services.rollout.heartbeat``): the last beat is younger than
  ``CATALOG_ROLLOUT_HEARTBEAT_MAX_AGE_S`` — the loop still turns;
* readiness (``python -m services.rollout.heartbeat --ready``): that, and the last pass succeeded
  (Triton answered and serves the plan).

Exit status 0 when healthy, 1 otherwise with the reason on stderr. Only the standard library
and the settings are imported: a probe runs it every few seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HEARTBEAT_NAME = "rollout.heartbeat"
"""The file under ``CATALOG_VAR_DIR`` the controller writes and the probes read."""


def beat(path: Path, ok: bool) -> None:
    """Record that the loop turned now (``ok``: its last pass succeeded), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        json.dump({"ts": time.time(), "ok": ok, "pid": os.getpid()}, out)
    os.replace(tmp, path)


def problem(path: Path, max_age_s: float, ready: bool = False, now: float | None = None) -> str | None:
    """Why the probe fails (None: healthy)."""
    try:
        state = json.loads(path.read_text())
        ts, ok = float(state["ts"]), bool(state["ok"])
    except FileNotFoundError:
        return f"no heartbeat at {path}: the loop has not turned yet"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable heartbeat {path}: {type(exc).__name__}: {exc}"
    age = (time.time() if now is None else now) - ts
    if age > max_age_s:
        return f"last heartbeat {age:.0f} s ago > {max_age_s:.0f} s: the loop is stuck"
    if ready and not ok:
        return "the last pass failed (see the controller's log)"
    return None


def main(argv: list[str] | None = None) -> int:
    """The probe: exit 0 when the heartbeat is fresh (and, with ``--ready``, the pass ok)."""
    parser = argparse.ArgumentParser(
        prog="python -m services.rollout.heartbeat", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--file", type=Path, help="default: CATALOG_VAR_DIR/" + HEARTBEAT_NAME)
    parser.add_argument("--max-age-s", type=float, help="default: CATALOG_ROLLOUT_HEARTBEAT_MAX_AGE_S")
    parser.add_argument("--ready", action="store_true", help="also require the last pass to have succeeded")
    args = parser.parse_args(argv)
    if args.file is None or args.max_age_s is None:
        from shared.config import Settings

        settings = Settings()
        if args.file is None:
            args.file = settings.var_dir / HEARTBEAT_NAME
        if args.max_age_s is None:
            args.max_age_s = settings.rollout_heartbeat_max_age_s
    reason = problem(args.file, args.max_age_s, args.ready)
    if reason is not None:
        print(reason, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
