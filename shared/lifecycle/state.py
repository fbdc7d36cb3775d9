"""Which published revision is current, which one runs in shadow, and who decided it.

``manifest.json`` stays the one thing workers follow (shared.ml.model_repo); this module keeps
``lifecycle.json`` next to it: every change of the current revision (promotion, forced override,
rollback) with who, when, why and the gate's report, and the shadow candidate with its share of
live traffic. A revision is therefore in one of four states: ``current``, ``shadow``,
``candidate`` (published, never live) or ``retired`` (was current once).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from shared.contract import utcnow
from shared.ml.model_repo import (
    MANIFEST,
    Manifest,
    atomic_write,
    find_manifest_by_version,
    list_manifests,
    read_manifest,
)

LIFECYCLE = "lifecycle.json"


class LifecycleError(ValueError):
    """A lifecycle change that cannot be made (unknown version, nothing to roll back to)."""


class Change(BaseModel):
    """One change of the current revision."""

    action: Literal["initial", "promote", "rollback"]
    version: str
    revision: int
    at: datetime = Field(default_factory=utcnow)
    by: str = Field("unknown", description="Who made the change.")
    reason: str | None = None
    forced: bool = Field(False, description="The gate refused and --force overrode it.")
    gate: dict[str, Any] | None = Field(None, description="The promotion gate's report.")


class Shadow(BaseModel):
    """A candidate run next to the current revision on a share of live offers."""

    version: str
    share: float = Field(..., gt=0.0, le=1.0)
    since: datetime = Field(default_factory=utcnow)
    by: str = "unknown"


class LifecycleState(BaseModel):
    changes: list[Change] = Field(default_factory=list)
    shadow: Shadow | None = None

    def stack(self, current: str | None) -> list[str]:
        """Versions that were current in turn (a promotion pushes, a rollback pops)."""
        versions: list[str] = []
        for change in self.changes:
            if change.action == "rollback":
                if versions:
                    versions.pop()
                if not versions or versions[-1] != change.version:
                    versions.append(change.version)
            else:
                versions.append(change.version)
        if current is not None and (not versions or versions[-1] != current):
            versions.append(current)  # repositories older than lifecycle.json
        return versions


def read_state(repository: Path) -> LifecycleState:
    path = Path(repository) / LIFECYCLE
    if not path.is_file():
        return LifecycleState()
    return LifecycleState.model_validate_json(path.read_text("utf-8"))


def _write_state(repository: Path, state: LifecycleState) -> None:
    atomic_write(Path(repository) / LIFECYCLE, state.model_dump_json(indent=2))


def current_version(repository: Path) -> str | None:
    if not (Path(repository) / MANIFEST).is_file():
        return None
    return read_manifest(repository).version


def statuses(repository: Path) -> dict[str, str]:
    """``current``, ``shadow``, ``retired`` or ``candidate`` for every published version."""
    state = read_state(repository)
    current = current_version(repository)
    was_current = {change.version for change in state.changes}
    out: dict[str, str] = {}
    for manifest in list_manifests(repository):
        v = manifest.version
        if v == current:
            out[v] = "current"
        elif state.shadow is not None and state.shadow.version == v:
            out[v] = "shadow"
        else:
            out[v] = "retired" if v in was_current else "candidate"
    if current is not None:
        out.setdefault(current, "current")
    return out


def make_current(
    repository: Path,
    version: str,
    *,
    by: str,
    reason: str | None = None,
    forced: bool = False,
    gate: dict[str, Any] | None = None,
    action: Literal["promote", "rollback"] = "promote",
) -> Change:
    """Make ``version`` current: ``manifest.json`` rewritten atomically, the change recorded.

    Workers notice the new ``manifest.json`` on their next poll and load it before using it.
    """
    repository = Path(repository)
    try:
        manifest = find_manifest_by_version(repository, version)
    except (LookupError, FileNotFoundError) as exc:
        raise LifecycleError(f"{version} is not a published revision of {repository}") from exc
    state = read_state(repository)
    previous = current_version(repository)
    if not state.changes and previous is not None:
        old = read_manifest(repository)
        state.changes.append(Change(action="initial", version=old.version, revision=old.revision))
    change = Change(
        action=action,
        version=manifest.version,
        revision=manifest.revision,
        by=by,
        reason=reason,
        forced=forced,
        gate=gate,
    )
    atomic_write(repository / MANIFEST, manifest.model_dump_json(indent=2))
    state.changes.append(change)
    if state.shadow is not None and state.shadow.version == manifest.version:
        state.shadow = None  # a live revision is no longer a shadow
    _write_state(repository, state)
    return change


def rollback(repository: Path, *, by: str, reason: str | None = None) -> Change:
    """Return to the revision that was current before the present one."""
    state = read_state(repository)
    stack = state.stack(current_version(repository))
    if len(stack) < 2:
        raise LifecycleError("nothing to roll back to: no earlier current revision is recorded")
    return make_current(repository, stack[-2], by=by, reason=reason, action="rollback")


def set_shadow(
    repository: Path, version: str | None, share: float = 0.1, *, by: str = "unknown"
) -> Shadow | None:
    """Run ``version`` in shadow on ``share`` of live offers (``None``: stop the shadow run)."""
    state = read_state(repository)
    if version is None:
        state.shadow = None
    else:
        try:
            find_manifest_by_version(Path(repository), version)
        except (LookupError, FileNotFoundError) as exc:
            raise LifecycleError(f"{version} is not a published revision of {repository}") from exc
        if version == current_version(repository):
            raise LifecycleError(f"{version} is current already: a shadow runs a candidate")
        if not 0.0 < share <= 1.0:
            raise LifecycleError("the shadow share is in (0, 1]")
        state.shadow = Shadow(version=version, share=share, by=by)
    _write_state(repository, state)
    return state.shadow


def in_shadow_sample(submission_id: UUID, share: float) -> bool:
    """Whether a submission is in the shadow sample: a hash of its id, so every encoder of the
    pipeline takes the same decision without talking to the others."""
    if share <= 0:
        return False
    digest = hashlib.blake2b(submission_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def manifests_by_version(repository: Path) -> dict[str, Manifest]:
    return {m.version: m for m in list_manifests(repository)}
