"""The compose file is validated here (no Docker engine on CI): structure, commands, settings."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from services.cli.main import app
from services.cli.registry import WORKERS
from shared.config import Settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_registered_worker_kind_and_backing_service_is_deployed() -> None:
    """The worker list comes from the one registry: a new kind cannot be forgotten here."""
    services = COMPOSE["services"]
    assert {"redis", "postgres", "triton", "migrate", "api"} <= set(services)
    for name in WORKERS:
        assert name in services, f"worker {name} has no compose service"
        assert services[name]["command"] == ["worker", name]


@pytest.mark.parametrize("name", [n for n, s in COMPOSE["services"].items() if "build" in s])
def test_service_commands_are_real_catalog_commands(name: str) -> None:
    command = COMPOSE["services"][name]["command"]
    # The first words up to an option form the command path; `--help` must succeed there.
    words = [w for w in command if not w.startswith("-")][:2]
    result = CliRunner().invoke(app, [*words, "--help"])
    assert result.exit_code == 0, f"{name}: catalog {' '.join(words)} --help -> {result.output}"


def test_environment_names_are_settings() -> None:
    fields = {f"CATALOG_{name.upper()}" for name in Settings.model_fields}
    for name, service in COMPOSE["services"].items():
        for key in service.get("environment") or {}:
            if key.startswith("CATALOG_"):
                assert key in fields, f"{name}: {key} is not a setting"


def test_dockerfile_exists_for_every_build() -> None:
    for service in COMPOSE["services"].values():
        if "build" in service:
            assert (ROOT / service["build"]["dockerfile"]).is_file()


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_config_validates() -> None:
    env = {**os.environ, "CATALOG_API_TOKEN": "validate", "REDIS_PASSWORD": "r", "POSTGRES_PASSWORD": "p"}
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr


# One-shot (migrate) or serving no HTTP endpoint (rollout --watch: loads and unloads on Triton).
NO_HEALTHCHECK = {"migrate", "rollout"}


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in COMPOSE["services"].items():
        if name not in NO_HEALTHCHECK:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_api_healthcheck_reads_what_the_kubernetes_readiness_probe_reads() -> None:
    """The API serves /health (503 when Redis or the database is down), not the workers' /readyz;
    compose and Kubernetes read the same path on the same port, with time for its 15 s
    inference check."""
    k8s = yaml.safe_load_all((ROOT / "deploy/k8s/base/api.yaml").read_text())
    (deployment,) = [d for d in k8s if d["kind"] == "Deployment"]
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
    api = COMPOSE["services"]["api"]
    port = api["command"][api["command"].index("--port") + 1]
    check = " ".join(api["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}{probe['path']}" in check
    assert int(api["healthcheck"]["timeout"].rstrip("s")) > 20
