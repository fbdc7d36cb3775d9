"""The rollout plan (newest N revisions + the current one), version policies, load retries."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.inference.backend import InferenceError
from shared.inference.rollout import TritonControl, plan, policy_line, write_version_policy
from shared.model_repo import MANIFEST, MANIFESTS_DIR, Manifest
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
    control = TritonControl("127.0.0.1:1", attempts=attempts, wait_s=0.01)
    control._client = client  # our own class: the fake stands in for tritonclient's retries
    return control


async def test_load_retries_failures_and_not_ready_then_succeeds() -> None:
    client = FlakyClient(failures=2, lag=1)
    await control_with(client, attempts=4).load("text_a", [3])
    assert client.loads == 4  # two errors, one "not ready yet", then ready


async def test_load_gives_up_with_the_last_error() -> None:
    client = FlakyClient(failures=10)
    with pytest.raises(InferenceError, match=r"could not load text_a versions \[3\]: version directory"):
        await control_with(client, attempts=3).load("text_a", [3])
    assert client.loads == 3


def test_plan_keeps_the_shadow_candidate_and_the_stamp_follows_lifecycle_changes(tmp_path: Path) -> None:
    from shared.inference.rollout import repository_stamp
    from shared.lifecycle import set_shadow

    root = tmp_path / "repo"
    build_repository(root, revision=1, seed=1)
    stamp = repository_stamp(root)
    shadow = build_repository(root, revision=2, seed=2, current=False)
    assert repository_stamp(root) != stamp  # a new candidate: reconcile again
    for revision in (3, 4):
        build_repository(root, revision=revision, seed=revision, current=False)
    assert plan(root, keep=2) == {"image_tiny": [1, 3, 4], "text_tiny": [1, 3, 4]}
    stamp = repository_stamp(root)
    set_shadow(root, shadow.version, 0.2, by="test")
    assert repository_stamp(root) != stamp
    assert plan(root, keep=2) == {"image_tiny": [1, 2, 3, 4], "text_tiny": [1, 2, 3, 4]}
    set_shadow(root, None)
    assert plan(root, keep=2) == {"image_tiny": [1, 3, 4], "text_tiny": [1, 3, 4]}


def test_rollout_rollback_to_makes_the_revision_current_and_records_it(tmp_path: Path) -> None:
    import typer

    from services.cli.rollout import roll_back_to_revision
    from shared.lifecycle import make_current, read_state
    from shared.model_repo import read_manifest

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
