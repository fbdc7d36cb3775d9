"""Model rollout on Triton: the one place that loads and unloads model versions.

Every training run adds a revision; without pruning, Triton's GPU memory grows with each. The
rollout controller (``catalog rollout``, one process per cluster) keeps the versions used by the
newest ``keep`` manifest revisions, plus the current manifest's (after a rollback it may be
older) and the shadow candidate's (``lifecycle.json``: the encoders run it too), loaded and
nothing else:

1. :func:`plan` reads ``manifests/*.json``, ``manifest.json`` and ``lifecycle.json``: model ->
   versions to serve;
2. each model's ``config.pbtxt`` gets ``version_policy: { specific { versions: [...] } }``;
3. a model whose served versions differ from its plan is (re)loaded with ``load_model``
   (Triton loads the new versions and unloads the dropped ones; unchanged versions keep
   serving); a model in no kept revision is unloaded.

Workers only check readiness (:meth:`TritonBackend.ensure_loaded`) and stay on the previous
revision until the new one is served. Version directories stay on disk (manifests may name
them); only Triton's memory is pruned. The promotion of a revision (``manifest.json``) is not
decided here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_incrementing

from services.rollout.heartbeat import beat
from shared.inference.backend import InferenceError, manifest_models
from shared.lifecycle.state import read_state
from shared.ml.model_repo import MANIFESTS_DIR, Manifest, read_manifest

log = logging.getLogger(__name__)

_POLICY = re.compile(r"^version_policy\s*:.*$", re.MULTILINE)


def kept_manifests(repository: Path, keep: int) -> list[Manifest]:
    """The newest ``keep`` revisions, plus the current one if it is older (a rollback) and the
    shadow candidate's, whatever its age (the encoders run it on a share of live offers)."""
    by_revision: dict[int, Manifest] = {}
    for path in (repository / MANIFESTS_DIR).glob("*.json"):
        manifest = Manifest.model_validate_json(path.read_text("utf-8"))
        by_revision[manifest.revision] = manifest
    current = read_manifest(repository)
    by_revision[current.revision] = current
    newest = sorted(by_revision, reverse=True)[:keep]
    extra = {current.revision}
    shadow = read_state(repository).shadow
    if shadow is not None:
        extra |= {r for r, m in by_revision.items() if m.version == shadow.version}
    revisions = sorted({*newest, *extra})
    return [by_revision[r] for r in revisions]


def plan(repository: Path, keep: int) -> dict[str, list[int]]:
    """Every Triton model of the repository -> the versions to serve (empty: unload it)."""
    wanted: dict[str, set[int]] = {p.parent.name: set() for p in repository.glob("*/config.pbtxt")}
    for manifest in kept_manifests(repository, keep):
        for model, version in manifest_models(manifest):
            wanted.setdefault(model, set()).add(version)
    return {model: sorted(versions) for model, versions in sorted(wanted.items())}


def policy_line(versions: list[int]) -> str:
    return "version_policy: { specific { versions: [" + ", ".join(map(str, versions)) + "] } }"


def write_version_policy(repository: Path, model: str, versions: list[int]) -> bool:
    """Set ``model``'s version policy to exactly ``versions`` (atomic); True if it changed."""
    path = repository / model / "config.pbtxt"
    body = path.read_text("utf-8")
    line = policy_line(versions)
    new = _POLICY.sub(line, body, count=1) if _POLICY.search(body) else body.rstrip("\n") + f"\n{line}\n"
    if new == body:
        return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config.pbtxt.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(new)
    os.replace(tmp, path)
    return True


@dataclass
class RolloutReport:
    """What one reconciliation did (printed by ``catalog rollout``)."""

    plan: dict[str, list[int]]
    loaded: dict[str, list[int]] = field(default_factory=dict)
    unloaded: list[str] = field(default_factory=list)
    served: dict[str, list[int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"plan": self.plan, "loaded": self.loaded, "unloaded": self.unloaded, "served": self.served}


class _NotReady(Exception):
    """``load_model`` returned but the planned versions are not all READY yet."""


class TritonControl:
    """Triton's model-control API (explicit mode) through tritonclient's async gRPC client."""

    def __init__(self, url: str, attempts: int = 6, wait_s: float = 0.5, client: Any = None) -> None:
        self.url = url
        self.attempts = attempts
        """``load_model`` calls before a model counts as unloadable."""
        self.wait_s = wait_s
        """Wait after the first failed load; each later wait is that much longer (0.5, 1, 1.5 s...)."""
        self._client: Any = client
        """tritonclient's async gRPC client, made on first use (tests pass a stand-in)."""

    @property
    def client(self) -> Any:
        if self._client is None:
            import tritonclient.grpc.aio as grpc

            self._client = grpc.InferenceServerClient(url=self.url)
        return self._client

    async def served(self) -> dict[str, list[int]]:
        """Model -> versions Triton serves now (state READY)."""
        index = await self.client.get_model_repository_index(as_json=True)
        served: dict[str, set[int]] = {}
        for entry in index.get("models", []):
            if entry.get("state") == "READY" and str(entry.get("version", "")).isdigit():
                served.setdefault(entry["name"], set()).add(int(entry["version"]))
        return {model: sorted(versions) for model, versions in served.items()}

    async def load(self, model: str, versions: list[int]) -> None:
        """``load_model`` until exactly ``versions`` are ready: a new version directory may lag
        behind the manifest (the volume is still being synced), so a failed load or a version
        not ready yet is retried (tenacity), with linearly growing waits: ``wait_s``, twice that..."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_incrementing(start=self.wait_s, increment=self.wait_s),
            # tritonclient raises per-protocol exception types; cancellation is never retried
            retry=retry_if_exception_type(Exception),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self.client.load_model(model)
                    if (await self.served()).get(model, []) != versions:
                        raise _NotReady("not ready")
        except Exception as exc:
            raise InferenceError(f"Triton could not load {model} versions {versions}: {exc}") from exc

    async def unload(self, model: str) -> None:
        await self.client.unload_model(model)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


async def reconcile(control: TritonControl, repository: Path, keep: int) -> RolloutReport:
    """Make Triton serve exactly :func:`plan`'s versions; idempotent (run it on every change)."""
    report = RolloutReport(plan=plan(repository, keep))
    served = await control.served()
    for model, versions in report.plan.items():
        if versions:
            write_version_policy(repository, model, versions)
            if served.get(model, []) != versions:
                log.info("loading model versions", extra={"model": model, "versions": versions})
                await control.load(model, versions)
                report.loaded[model] = versions
        elif served.get(model):
            log.info("unloading model", extra={"model": model, "versions": served[model]})
            await control.unload(model)
            report.unloaded.append(model)
    report.served = await control.served()
    return report


async def watch(
    control: TritonControl,
    repository: Path,
    keep: int,
    interval_s: float,
    on_report: Callable[[dict[str, Any]], None] = lambda report: None,
    heartbeat: Path | None = None,
) -> None:
    """``catalog rollout --watch``: :func:`reconcile` every ``interval_s``, for ever.

    Every pass compares the plan with what Triton serves, not only when ``manifest.json``
    changes: Triton in explicit model-control mode starts with no model loaded, so after a
    restart of its pod the controller loads the kept versions again within one interval. A
    failed pass (Triton restarting, no repository trained yet, a version directory not synced)
    is logged and retried; it never ends the controller. ``on_report`` gets each pass's report
    when it differs from the previous one. ``heartbeat``: a file written at the start and after
    every pass (:mod:`services.rollout.heartbeat`), which the controller's probes read: a pass that never
    returns leaves it to age.
    """
    last: dict[str, Any] | None = None
    if heartbeat is not None:
        beat(heartbeat, ok=False)  # alive, not ready before the first pass
    while True:
        ok = False
        try:
            report = (await reconcile(control, repository, keep)).as_dict()
            ok = True
        except Exception as exc:  # tritonclient raises per-protocol types; the next pass retries
            log.warning(
                "rollout pass failed; retrying in %.0f s: %s: %s",
                interval_s,
                type(exc).__name__,
                exc,
                extra={"repository": str(repository)},
            )
            last = None
        else:
            if report != last:
                on_report(report)
                last = report
        if heartbeat is not None:
            beat(heartbeat, ok)
        await asyncio.sleep(interval_s)
