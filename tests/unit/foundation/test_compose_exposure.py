"""Security: compose publishes on every interface only what authenticates its writes (the API);
Triton's model control and Prometheus are reachable from the host itself only."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
PUBLIC = {"api"}


def test_only_the_api_is_published_beyond_localhost() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    exposed = {
        (name, str(port))
        for name, service in services.items()
        if name not in PUBLIC
        for port in service.get("ports", [])
        if not str(port).startswith("127.0.0.1:")
    }
    assert exposed == set()
    assert services["triton"]["ports"]  # the check above has something to check
