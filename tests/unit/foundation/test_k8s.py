"""The generated deployment files: in step with the registry, schema-valid, policy-clean.

No cluster here: the manifests are rendered in Python (deploy/render/k8s.py), the
committed copies must equal the rendering, kubernetes-validate checks them against the
Kubernetes schemas, and checkov (its own environment, `make policy-env`) against its policies.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.render.k8s import BASE, GRACE_S, STREAM_PREFIX, render_all
from services.cli.registry import WORKERS
from shared.broker import GRACEFUL_TIMEOUT_S

ROOT = Path(__file__).resolve().parents[3]
RENDERED = render_all()
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((ROOT / BASE).glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def find(kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"no single {kind} {name}"
    return matches[0]


@pytest.mark.parametrize("path", sorted(RENDERED), ids=str)
def test_committed_file_equals_the_rendering(path: Path) -> None:
    committed = ROOT / path
    assert committed.is_file(), f"{path} missing: run python -m deploy.render"
    assert committed.read_text() == RENDERED[path], f"{path} is stale: run python -m deploy.render"


def test_kustomization_lists_every_rendered_manifest() -> None:
    kustomization = yaml.safe_load((ROOT / BASE / "kustomization.yaml").read_text())
    on_disk = {p.name for p in (ROOT / BASE).glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk


@pytest.mark.parametrize("name", list(WORKERS))
def test_every_registered_worker_has_deployment_probes_and_scaler(name: str) -> None:
    spec = WORKERS[name]
    deployment = find("Deployment", f"catalog-{name}")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["worker", name]
    assert container["image"].startswith(f"catalog-{spec.image}:")
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    env = {e["name"]: e for e in container["env"]}
    assert env["CATALOG_METRICS_PORT"]["value"] == str(container["ports"][0]["containerPort"])
    assert "secretKeyRef" in env["CATALOG_REDIS_URL"]["valueFrom"]
    assert pod["terminationGracePeriodSeconds"] == GRACE_S > GRACEFUL_TIMEOUT_S
    assert find("PodDisruptionBudget", f"catalog-{name}")["spec"]["maxUnavailable"] == 1
    scalers = [
        d for d in documents() if d["kind"] == "ScaledObject" and d["metadata"]["name"] == f"catalog-{name}"
    ]
    if not spec.consumes:  # e.g. reclassify: polls a table, nothing to scale on
        assert scalers == []
        return
    (scaler,) = scalers
    assert scaler["spec"]["scaleTargetRef"]["name"] == f"catalog-{name}"
    assert scaler["spec"]["minReplicaCount"] >= 1
    triggers = scaler["spec"]["triggers"]
    # One trigger per consumed stream and lane: a bulk backlog scales the kind out too.
    assert [t["type"] for t in triggers] == ["redis-streams"] * 2 * len(spec.consumes)
    assert {t["metadata"]["stream"] for t in triggers} == {
        f"{STREAM_PREFIX}{c.stream}{suffix}" for c in spec.consumes for suffix in ("", ".bulk")
    }
    for trigger in triggers:
        assert trigger["metadata"]["consumerGroup"] == name
        assert int(trigger["metadata"]["lagCount"]) > 0
        assert trigger["authenticationRef"]["name"] == "catalog-redis"


def test_stream_prefix_of_the_scalers_is_the_workers_setting() -> None:
    assert find("ConfigMap", "catalog-settings")["data"]["CATALOG_STREAM_PREFIX"] == STREAM_PREFIX
    auth = find("TriggerAuthentication", "catalog-redis")["spec"]["secretTargetRef"][0]
    assert auth["parameter"] == "password"


def test_triton_runs_on_a_gpu_with_explicit_model_control() -> None:
    pod = find("Deployment", "catalog-triton")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "--model-control-mode=explicit" in container["args"]
    rollout = find("Deployment", "catalog-model-rollout")
    assert rollout["spec"]["replicas"] == 1 and rollout["spec"]["strategy"]["type"] == "Recreate"
    assert find("Job", "catalog-migrate")["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "db",
        "upgrade",
    ]


def test_manifests_match_the_kubernetes_schemas() -> None:
    from kubernetes_validate import ValidationError, validate

    checked = 0
    for doc in documents():
        if doc["apiVersion"].startswith("keda.sh/"):  # a CRD: checked by the registry test above
            continue
        try:
            validate(doc, "1.30", strict=True)
        except ValidationError as exc:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
        checked += 1
    assert checked >= 2 * len(WORKERS)


def run_checkov(*target: str) -> tuple[list[str], int]:
    """checkov's Kubernetes checks on ``target`` (``-d DIR`` or ``-f FILE``): failures, passes."""
    result = subprocess.run(
        [str(CHECKOV), *target, "--framework", "kubernetes", "--quiet", "--compact",
         "--skip-download", "-o", "json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [f"{c['check_id']} {c['resource']}" for r in reports for c in r["results"]["failed_checks"]]
    return failed, sum(r["summary"]["passed"] for r in reports)


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov environment missing: run `make policy-env`")
def test_checkov_finds_nothing_unjustified() -> None:
    """Each deliberate exception is an inline `checkov.io/skipN` annotation with its reason."""
    failed, passed = run_checkov("-d", str(ROOT / BASE))
    assert failed == [], failed
    assert passed > 100
    for doc in documents():
        for key, value in (doc["metadata"].get("annotations") or {}).items():
            if key.startswith("checkov.io/skip"):
                check, _, reason = value.partition("=")
                assert check.startswith("CKV") and len(reason) > 20, f"{doc['metadata']['name']}: {value}"


def test_alert_rules_are_well_formed_and_use_real_metrics() -> None:
    from prometheus_client import REGISTRY

    import shared.metrics  # noqa: F401  (registers the worker metrics)
    from services.api.state import Metrics  # the API's own registry (drift, live quality)

    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    (group,) = rules["groups"]
    names = set()
    families = [*REGISTRY.collect(), *Metrics().registry.collect()]
    known = {m.name for m in families} | {f"{m.name}_total" for m in families if m.type == "counter"}
    for rule in group["rules"]:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        for metric in {w for w in _words(rule["expr"]) if w.startswith("catalog_")}:
            assert metric in known, f"{rule['alert']}: unknown metric {metric}"
        names.add(rule["alert"])
    assert {"CatalogDeadLetters", "CatalogConsumerLag", "CatalogPendingTooOld", "CatalogJoinBacklog",
            "CatalogWorkerNotReady", "CatalogWorkerDown", "RedisMemoryHigh", "CatalogModelDrift",
            "CatalogModelDriftWarning", "CatalogDependencyDown"} <= names  # fmt: skip


def _words(expr: str) -> list[str]:
    import re

    return re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_compose_workers_have_metrics_health_and_grace() -> None:
    import os

    env = {**os.environ, "CATALOG_API_TOKEN": "t", "REDIS_PASSWORD": "r", "POSTGRES_PASSWORD": "p"}
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    services = yaml.safe_load(result.stdout)["services"]
    for name, spec in WORKERS.items():
        service = services[name]
        assert service["environment"]["CATALOG_METRICS_PORT"] == "9100"
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
        assert service["stop_grace_period"] in (f"{GRACE_S}s", f"{GRACE_S}000000000ns", GRACE_S)
        assert service["build"]["target"] == spec.image
        assert service["image"].startswith(f"catalog-{spec.image}")
    api = services["api"]  # hand-written, not generated: the API answers /health, not /readyz
    assert "/health" in " ".join(api["healthcheck"]["test"])
    assert api["stop_grace_period"] in (f"{GRACE_S}s", f"{GRACE_S}000000000ns", GRACE_S)
    redis = " ".join(services["redis"]["command"])
    assert "--requirepass" in redis and "--maxmemory" in redis and "noeviction" in redis
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "p"  # from the env, not inline
