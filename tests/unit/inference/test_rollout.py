"""The rollout plan (newest N revisions + the current one), version policies, load retries."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.rollout.controller import TritonControl, plan, policy_line, write_version_policy
from shared.inference.backend import InferenceError
from shared.ml.model_repo import MANIFEST, MANIFESTS_DIR, Manifest
from tests.unit.inference.repo_fixture import build_repository


def test_plan_keeps_the_newest_revisions_and_a_rolled_back_current(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for revision in (1, 2, 3):
        build_repository(root, revision=revision, seed=revision)
    assert plan(root, keep=2) == {"image_tiny": [2, 3], "text_tiny": [2, 3]}
    assert plan(root, keep=5) == {"image_tiny": [1, 2, 3], "text_tiny": [1, 2, 3]}
    # rollback: revision 1 made current again; it is served besides the newest two
    (root / MANIFEST).write_text((root / MANIFESTS_DIR / "1.json").read_text())
    assert plan(root, keep=2) == {"image_tiny": [1, 2, 3], "text_tiny": [1, 2, 3]}
    assert plan(root, keep=1) == {"image_tiny": [1, 3], "text_tiny": [1, 3]}


def test_version_policy_is_rewritten_once(model_repo: tuple[Path, Manifest]) -> None:
    root, _ = model_repo
    assert write_version_policy(root, "text_tiny", [1])
    config = (root / "text_tiny" / "config.pbtxt").read_text()
    assert policy_line([1]) in config and "all {" not in config and config.count("version_policy") == 1
    assert not write_version_policy(root, "text_tiny", [1])


class FlakyClient:
    """``load_model`` fails ``failures`` times, then the versions are READY after ``lag`` checks."""

    def __init__(self, failures: int, lag: int = 0) -> None:
        self.failures, self.lag = failures, lag
        self.loads = 0

    async def load_model(self, model: str) -> None:
        self.loads += 1
        if self.loads <= self.failures:
            raise RuntimeError("version directory not there yet")

    async def get_model_repository_index(self, as_json: bool) -> dict[str, object]:
        if self.lag or self.loads <= self.failures:
            self.lag = max(0, self.lag - 1)
            return {"models": [{"name": "text_a", "version": "2", "state": "READY"}]}
        return {"models": [{"name": "text_a", "version": "3", "state": "READY"}]}


def control_with(client: FlakyClient, attempts: int) -> TritonControl:
    return TritonControl("127.0.0.1:1", attempts=attempts, wait_s=0.01, client=client)


async def test_load_retries_failures_and_not_ready_then_succeeds() -> None:
    client = FlakyClient(failures=2, lag=1)
    await control_with(client, attempts=4).load("text_a", [3])
    assert client.loads == 4  # two errors, one "not ready yet", then ready


async def test_load_gives_up_with_the_last_error() -> None:
    client = FlakyClient(failures=10)
    with pytest.raises(InferenceError, match=r"could not load text_a versions \[3\]: version directory"):
        await control_with(client, attempts=3).load("text_a", [3])
    assert client.loads == 3


async def test_load_gives_up_when_the_versions_never_become_ready() -> None:
    client = FlakyClient(failures=0, lag=10)
    with pytest.raises(InferenceError, match=r"could not load text_a versions \[3\]: not ready"):
        await control_with(client, attempts=3).load("text_a", [3])
    assert client.loads == 3


class FakeTriton:
    """Triton in explicit model-control mode: ``load_model`` serves the versions its
    ``config.pbtxt`` names; a restart forgets every loaded model; ``down`` refuses every call."""

    def __init__(self, repository: Path) -> None:
        self.repository = repository
        self.served: dict[str, list[int]] = {}
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("Triton is restarting")

    async def load_model(self, model: str) -> None:
        self._check()
        config = (self.repository / model / "config.pbtxt").read_text()
        line = next(line for line in config.splitlines() if line.startswith("version_policy"))
        self.served[model] = [int(v) for v in line.split("[")[1].split("]")[0].split(",")]

    async def unload_model(self, model: str) -> None:
        self._check()
        self.served.pop(model, None)

    async def get_model_repository_index(self, as_json: bool) -> dict[str, object]:
        self._check()
        return {
            "models": [
                {"name": m, "version": str(v), "state": "READY"} for m, vs in self.served.items() for v in vs
            ]
        }

    async def close(self) -> None:
        return None


async def test_watch_reloads_a_restarted_triton_and_survives_its_downtime(tmp_path: Path) -> None:
    """The manifest does not change, Triton restarts (explicit mode: nothing loaded): the
    controller loads the kept versions again; a failed pass while Triton is down is retried."""
    import asyncio

    from services.rollout.controller import watch
    from tests.waiting import eventually

    root = tmp_path / "repo"
    for revision in (1, 2, 3):
        build_repository(root, revision=revision, seed=revision)
    triton = FakeTriton(root)
    control = TritonControl("127.0.0.1:1", attempts=2, wait_s=0.01, client=triton)
    reports: list[dict[str, object]] = []
    task = asyncio.create_task(watch(control, root, 2, 0.01, reports.append))
    try:
        wanted = {"image_tiny": [2, 3], "text_tiny": [2, 3]}
        await eventually(lambda: triton.served == wanted, timeout_s=10)
        triton.down, triton.served = True, {}  # the pod restarts: everything is forgotten
        await asyncio.sleep(0.05)  # passes fail meanwhile; the controller keeps going
        assert not task.done()
        triton.down = False
        await eventually(lambda: triton.served == wanted, timeout_s=10)
        build_repository(root, revision=4, seed=4)  # a new revision is promoted
        newest = {"image_tiny": [3, 4], "text_tiny": [3, 4]}
        await eventually(lambda: triton.served == newest, timeout_s=10)
    finally:
        task.cancel()
    assert [r["loaded"] for r in reports if r["loaded"]] == [wanted, wanted, newest]


def test_plan_keeps_the_shadow_candidate(tmp_path: Path) -> None:
    from shared.lifecycle.state import set_shadow

    root = tmp_path / "repo"
    build_repository(root, revision=1, seed=1)
    shadow = build_repository(root, revision=2, seed=2, current=False)
    for revision in (3, 4):
        build_repository(root, revision=revision, seed=revision, current=False)
    assert plan(root, keep=2) == {"image_tiny": [1, 3, 4], "text_tiny": [1, 3, 4]}
    set_shadow(root, shadow.version, 0.2, by="test")
    assert plan(root, keep=2) == {"image_tiny": [1, 2, 3, 4], "text_tiny": [1, 2, 3, 4]}
    set_shadow(root, None)
    assert plan(root, keep=2) == {"image_tiny": [1, 3, 4], "text_tiny": [1, 3, 4]}


def test_rollout_rollback_to_makes_the_revision_current_and_records_it(tmp_path: Path) -> None:
    import typer

    from services.cli.commands.rollout import roll_back_to_revision
    from shared.lifecycle.state import make_current, read_state
    from shared.ml.model_repo import read_manifest

    root = tmp_path / "repo"
    first = build_repository(root, revision=1, seed=1)
    second = build_repository(root, revision=2, seed=2, current=False)
    make_current(root, second.version, by="test")
    roll_back_to_revision(root, 1)
    assert read_manifest(root).version == first.version
    change = read_state(root).changes[-1]
    assert (change.action, change.version) == ("rollback", first.version)
    assert change.reason == "catalog rollout --rollback-to 1"
    with pytest.raises(typer.BadParameter, match="revision 7"):
        roll_back_to_revision(root, 7)
