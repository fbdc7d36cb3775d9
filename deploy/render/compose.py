"""The worker services of ``docker-compose.yml``, generated from the worker registry.

The hand-written part of the file (Redis, PostgreSQL, Triton, the API, the anchors) stays as it
is; the block between the two marker lines is replaced by one service per registered kind.
"""

from __future__ import annotations

from services.cli.registry import WORKERS

BEGIN = "  # --- generated workers (python -m deploy.render from services/cli/registry.py) ---\n"
END = "  # --- end of generated workers ---\n"
READY = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9100/readyz', timeout=3)"


def worker_services() -> str:
    blocks = []
    for name, spec in WORKERS.items():
        lines = [
            f"  {name}:",
            f"    <<: [*worker, *{spec.image}]",
            f'    command: ["worker", "{name}"]',
        ]
        if spec.image == "inference":
            lines += [
                "    depends_on:",
                "      redis: {condition: service_healthy}",
                "      migrate: {condition: service_completed_successfully}",
                "      triton: {condition: service_healthy}",
            ]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def render_compose(current: str) -> str:
    """``current`` with its generated block brought up to date."""
    if BEGIN not in current or END not in current:
        raise ValueError("docker-compose.yml lacks the generated-workers markers")
    head, rest = current.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + BEGIN + worker_services() + END + tail
