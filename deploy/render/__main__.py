"""Write the deployment files generated from the worker registry (deploy/render/k8s.py).

python -m deploy.render          # write them (`make deploy`)
python -m deploy.render --check  # exit 1 if a committed file differs
"""

from __future__ import annotations

import sys

from deploy.render.k8s import ROOT, render_all


def main(argv: list[str]) -> int:
    stale = []
    for path, body in render_all().items():
        target = ROOT / path
        if target.is_file() and target.read_text("utf-8") == body:
            continue
        stale.append(str(path))
        if "--check" not in argv:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body, "utf-8")
    verb = "differ (run python -m deploy.render)" if "--check" in argv else "written"
    for name in stale:
        print(f"{name}: {verb}")
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
