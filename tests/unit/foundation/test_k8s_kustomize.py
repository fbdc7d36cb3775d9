"""The base and the production overlay rendered by real kustomize (``kustomize build`` or
``kubectl kustomize``, whichever is on PATH; skipped without either), then checked as a cluster
would receive them: schema-valid, namespaced, retagged, patched, and policy-clean (checkov).

test_k8s.py and test_k8s_overlay.py check the same files without kustomize."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.render.k8s import VERSION
from services.cli.registry import WORKERS
from tests.unit.foundation.test_k8s import CHECKOV, run_checkov

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "StorageClass"}


def _command() -> list[str] | None:
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build"]
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    return None


COMMAND = _command()
pytestmark = pytest.mark.skipif(COMMAND is None, reason="neither kustomize nor kubectl on PATH")


def build(path: Path) -> str:
    assert COMMAND is not None
    result = subprocess.run([*COMMAND, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def overlay_text() -> str:
    return build(K8S / "overlays" / "production")


def objects(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def committed_base() -> set[tuple[str, str]]:
    found = set()
    for path in (K8S / "base").glob("*.yaml"):
        if path.name != "kustomization.yaml":
            found |= {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(path.read_text()) if d}
    return found


def test_the_base_builds_to_the_committed_objects_with_the_version_label() -> None:
    built = objects(build(K8S / "base"))
    assert {(d["kind"], d["metadata"]["name"]) for d in built} == committed_base()
    for doc in built:
        assert doc["metadata"]["labels"]["app.kubernetes.io/version"] == VERSION, doc["metadata"]["name"]


def test_the_overlay_namespaces_retags_and_patches_the_base(overlay_text: str) -> None:
    built = objects(overlay_text)
    assert {(d["kind"], d["metadata"]["name"]) for d in built} == committed_base()
    for doc in built:
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") == "catalog", doc["metadata"]["name"]
    deployments = {d["metadata"]["name"]: d for d in built if d["kind"] == "Deployment"}
    for name in [f"catalog-{w}" for w in WORKERS] + ["catalog-api", "catalog-model-rollout"]:
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert container["image"].startswith("registry.example.com/catalog/catalog-"), name
        assert container["image"].endswith(":0.1.0"), name
    scalers = {d["metadata"]["name"]: d for d in built if d["kind"] == "ScaledObject"}
    assert set(scalers) == {f"catalog-{n}" for n, spec in WORKERS.items() if spec.consumes}
    for name, scaler in scalers.items():
        addresses = {t["metadata"]["address"] for t in scaler["spec"]["triggers"]}
        assert addresses == {"redis.catalog.svc.cluster.local:6379"}, name
    assert scalers["catalog-text-encoder"]["spec"]["maxReplicaCount"] == 16


def test_the_built_overlay_matches_the_kubernetes_schemas(overlay_text: str) -> None:
    from kubernetes_validate import ValidationError, validate

    for doc in objects(overlay_text):
        if doc["apiVersion"].startswith("keda.sh/"):  # a CRD: no schema in kubernetes-validate
            continue
        try:
            validate(doc, "1.30", strict=True)
        except ValidationError as exc:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {exc.message} at {list(exc.path)}")


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov environment missing: run `make policy-env`")
def test_checkov_passes_the_built_overlay(overlay_text: str, tmp_path: Path) -> None:
    """What a cluster receives: the base's justified skips survive kustomize (annotations)."""
    rendered = tmp_path / "production.yaml"
    rendered.write_text(overlay_text)
    failed, passed = run_checkov("-f", str(rendered))
    assert failed == [], failed
    assert passed > 100
