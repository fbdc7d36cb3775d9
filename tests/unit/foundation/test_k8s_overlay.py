"""The production overlay is checked against the generated base without kustomize: every image
it retags is used by the base, and every JSON patch targets an existing object and path."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
OVERLAY = ROOT / "deploy" / "k8s" / "overlays" / "production" / "kustomization.yaml"
BASE = ROOT / "deploy" / "k8s" / "base"


def base_objects() -> list[dict]:  # type: ignore[type-arg]
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    objects = []
    for name in kustomization["resources"]:
        objects += [d for d in yaml.safe_load_all((BASE / name).read_text()) if d]
    return objects


def resolve(document: object, path: str) -> bool:
    node = document
    for part in path.strip("/").split("/"):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return True


def test_overlay_images_are_the_base_images() -> None:
    overlay = yaml.safe_load(OVERLAY.read_text())
    used = {c["image"].split(":")[0] for o in base_objects() for c in _containers(o)}
    assert overlay["resources"] == ["../../base"]
    for image in overlay["images"]:
        assert image["name"] in used, f"{image['name']} is not an image of the base"


def test_every_patch_targets_an_existing_object_and_path() -> None:
    overlay = yaml.safe_load(OVERLAY.read_text())
    objects = base_objects()
    for entry in overlay["patches"]:
        target = entry["target"]
        matching = [
            o
            for o in objects
            if o["kind"] == target["kind"]
            and target.get("name", o["metadata"]["name"]) == o["metadata"]["name"]
        ]
        assert matching, f"no {target} in the base"
        for op in yaml.safe_load(entry["patch"]):
            hits = [o for o in matching if resolve(o, op["path"])]
            assert hits, f"{op['path']} exists in no {target}"


def test_every_scaler_trigger_reads_the_overlays_redis() -> None:
    """Both lanes' triggers (live and bulk) of every ScaledObject get the cluster's Redis."""
    overlay = yaml.safe_load(OVERLAY.read_text())
    scalers = [o for o in base_objects() if o["kind"] == "ScaledObject"]
    for entry in overlay["patches"]:
        target = entry["target"]
        for scaler in scalers:
            name = scaler["metadata"]["name"]
            if target["kind"] != "ScaledObject" or target.get("name", name) != name:
                continue
            for op in yaml.safe_load(entry["patch"]):
                parts = op["path"].strip("/").split("/")
                if parts[:2] == ["spec", "triggers"] and resolve(scaler, op["path"]):
                    scaler["spec"]["triggers"][int(parts[2])]["metadata"]["address"] = op["value"]
    for scaler in scalers:
        addresses = {t["metadata"]["address"] for t in scaler["spec"]["triggers"]}
        assert addresses == {"redis.catalog.svc.cluster.local:6379"}, scaler["metadata"]["name"]


def _containers(obj: dict) -> list[dict]:  # type: ignore[type-arg]
    spec = obj.get("spec", {})
    pod = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get("spec", {}).get(
        "template", {}
    ).get("spec", {})
    return list(pod.get("containers", [])) + list(pod.get("initContainers", []))
