"""The Prometheus scrape configurations (deploy/prometheus/prometheus.yml for compose,
prometheus-k8s.yml for Kubernetes): every registered worker kind and the API is scraped, under
a job name the alert rules select. No promtool here: the files are read as YAML and the
Kubernetes relabelling is applied, as Prometheus does, to the pod templates of deploy/k8s/base.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.cli.registry import WORKERS

ROOT = Path(__file__).resolve().parents[3]
DIRECTORY = ROOT / "deploy/prometheus"
COMPOSE_CONFIG = yaml.safe_load((DIRECTORY / "prometheus.yml").read_text())
K8S_CONFIG = yaml.safe_load((DIRECTORY / "prometheus-k8s.yml").read_text())
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
CATALOG = [*WORKERS, "api"]


def rule_job_selectors() -> list[tuple[str, str]]:
    """(operator, value) of every ``job`` matcher in the alert rules' expressions."""
    rules = yaml.safe_load((DIRECTORY / "alerts.yml").read_text())["groups"][0]["rules"]
    found = [m for r in rules for m in re.findall(r'\bjob\s*(=~|!~|!=|=)\s*"([^"]*)"', r["expr"])]
    assert found, "no alert rule selects a scrape job"
    return found


def selected(job: str, op: str, value: str) -> bool:
    """Prometheus label matchers; regexes are anchored at both ends."""
    if op == "=":
        return job == value
    if op == "!=":
        return job != value
    matched = re.fullmatch(value, job) is not None
    return matched if op == "=~" else not matched


def compose_targets() -> dict[str, list[str]]:
    """Job -> "host:port" of each target (static or DNS-resolved compose service)."""
    targets: dict[str, list[str]] = {}
    for job in COMPOSE_CONFIG["scrape_configs"]:
        found = [t for c in job.get("static_configs", []) for t in c["targets"]]
        found += [f"{n}:{c['port']}" for c in job.get("dns_sd_configs", []) for n in c["names"]]
        targets[job["job_name"]] = found
    return targets


@pytest.mark.parametrize("config", [COMPOSE_CONFIG, K8S_CONFIG], ids=["compose", "k8s"])
def test_the_alert_rules_are_loaded(config: dict[str, Any]) -> None:
    assert config["rule_files"] == ["alerts.yml"]  # relative to the configuration file
    assert (DIRECTORY / "alerts.yml").is_file()
    names = [j["job_name"] for j in config["scrape_configs"]]
    assert len(names) == len(set(names))


def test_compose_scrapes_every_worker_kind_and_the_api() -> None:
    targets = compose_targets()
    services = COMPOSE["services"]
    port = COMPOSE["x-worker"]["environment"]["CATALOG_METRICS_PORT"]
    for kind in WORKERS:
        assert targets[f"catalog-{kind}"] == [f"{kind}:{port}"], kind
        assert kind in services
    api = services["api"]["command"]
    assert targets["catalog-api"] == [f"api:{api[api.index('--port') + 1]}"]
    for found in targets.values():  # every target is a compose service
        assert all(t.split(":")[0] in services for t in found), found
    paths = {j["job_name"]: j.get("metrics_path", "/metrics") for j in COMPOSE_CONFIG["scrape_configs"]}
    assert {paths[f"catalog-{name}"] for name in CATALOG} == {"/metrics"}


def test_compose_scrapes_redis_for_the_memory_alert() -> None:
    """RedisMemoryHigh reads redis_exporter's gauges: compose runs the exporter against its
    Redis (with its password) under the monitoring profile, and Prometheus scrapes it."""
    assert compose_targets()["redis"] == ["redis-exporter:9121"]
    exporter = COMPOSE["services"]["redis-exporter"]
    assert exporter["profiles"] == COMPOSE["services"]["prometheus"]["profiles"] == ["monitoring"]
    assert exporter["environment"]["REDIS_ADDR"] == "redis://redis:6379"
    redis = COMPOSE["services"]["redis"]
    assert exporter["environment"]["REDIS_PASSWORD"] == redis["environment"]["REDIS_PASSWORD"]
    rules = yaml.safe_load((DIRECTORY / "alerts.yml").read_text())["groups"][0]["rules"]
    (memory,) = [r for r in rules if r["alert"] == "RedisMemoryHigh"]
    gauges = set(re.findall(r"redis_\w+", memory["expr"]))
    assert {"redis_memory_used_bytes", "redis_memory_max_bytes"} <= gauges


def test_compose_job_names_match_the_rules_selectors() -> None:
    """The catalog's jobs, and only they, are what ``job=~"catalog.*"`` selects."""
    for op, value in rule_job_selectors():
        for job in compose_targets():
            assert selected(job, op, value) == (job in {f"catalog-{n}" for n in CATALOG}), (job, op, value)


def relabel(labels: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, str] | None:
    """Prometheus' relabelling (keep, drop, replace) of one target; None when dropped."""
    labels = dict(labels)
    for rule in rules:
        action = rule.get("action", "replace")
        value = rule.get("separator", ";").join(labels.get(s, "") for s in rule["source_labels"])
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if (action == "keep" and match is None) or (action == "drop" and match is not None):
            return None
        if action == "replace" and match is not None:
            replacement = re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", rule.get("replacement", "$1"))
            labels[rule["target_label"]] = match.expand(replacement)
    return labels


def _meta(prefix: str, mapping: dict[str, str]) -> dict[str, str]:
    return {prefix + re.sub(r"[^a-zA-Z0-9_]", "_", k): str(v) for k, v in mapping.items()}


def pod_targets() -> dict[str, dict[str, str]]:
    """Job -> labels of the target Prometheus makes of each pod template of the base."""
    jobs: dict[str, dict[str, str]] = {}
    (job,) = K8S_CONFIG["scrape_configs"]
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    for path in sorted((ROOT / "deploy/k8s/base").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc["kind"] not in ("Deployment", "StatefulSet", "Job"):
                continue
            template = doc["spec"]["template"]
            meta = template.get("metadata") or {}
            for container in template["spec"]["containers"]:
                for port in container.get("ports") or [{}]:  # one target per declared port
                    address = ":".join(["10.0.0.1", *([str(port["containerPort"])] if port else [])])
                    labels = {
                        "job": job["job_name"],
                        "__address__": address,
                        "__metrics_path__": "/metrics",
                        "__meta_kubernetes_pod_ip": "10.0.0.1",
                        "__meta_kubernetes_pod_phase": "Running",
                        "__meta_kubernetes_namespace": "catalog",
                        "__meta_kubernetes_pod_name": f"{doc['metadata']['name']}-x",
                        **_meta("__meta_kubernetes_pod_label_", meta.get("labels") or {}),
                        **_meta("__meta_kubernetes_pod_annotation_", meta.get("annotations") or {}),
                    }
                    kept = relabel(labels, job["relabel_configs"])
                    if kept is not None:
                        assert kept["job"] not in jobs or jobs[kept["job"]] == kept, "two targets per pod"
                        jobs[kept["job"]] = kept
    return jobs


def test_kubernetes_scrapes_every_worker_kind_and_the_api() -> None:
    """The pod job keeps exactly the annotated catalog pods: each worker kind on its metrics
    port, the API on its HTTP port; one target per pod."""
    targets = pod_targets()
    assert set(targets) == {f"catalog-{n}" for n in CATALOG}
    for kind in WORKERS:
        assert targets[f"catalog-{kind}"]["__address__"] == "10.0.0.1:9100"
        assert targets[f"catalog-{kind}"]["__metrics_path__"] == "/metrics"
    assert targets["catalog-api"]["__address__"] == "10.0.0.1:8000"
    assert targets["catalog-api"]["__metrics_path__"] == "/metrics"


def test_kubernetes_job_names_match_the_rules_selectors() -> None:
    for op, value in rule_job_selectors():
        for job in pod_targets():
            assert selected(job, op, value), (job, op, value)


def test_the_relabelling_helper_drops_what_is_not_annotated() -> None:
    (job,) = K8S_CONFIG["scrape_configs"]
    part_of = "__meta_kubernetes_pod_label_app_kubernetes_io_part_of"
    scrape = "__meta_kubernetes_pod_annotation_prometheus_io_scrape"
    rules = job["relabel_configs"]
    assert relabel({part_of: "catalog", "__meta_kubernetes_pod_ip": "1"}, rules) is None
    assert relabel({part_of: "other", scrape: "true", "__meta_kubernetes_pod_ip": "1"}, rules) is None
    kept = relabel({"job": "catalog-pods", part_of: "catalog", scrape: "true"}, rules)
    assert kept is not None and kept["job"] == "catalog-pods"  # no component label: the job's name


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus-k8s.yml"])
def test_promtool_accepts_the_configuration(name: str) -> None:
    result = subprocess.run(
        ["promtool", "check", "config", str(DIRECTORY / name)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
