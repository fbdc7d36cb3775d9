"""What the writer refuses to store (issue 24 F, G): events it cannot trust.

A ``listings.classified`` event is stored only when
- no stage is stamped further ahead than ``CATALOG_MAX_CLOCK_SKEW_S`` (``future_timestamp``);
- its model version is one the model repository holds (``unknown_model_version``);
- its submission is in the ledger, for the same listing (``unknown_submission``,
  ``listing_mismatch``); a shadow prediction's live submission (``shadow_of``) likewise.
Every other event is dead-lettered with the reason, at the first delivery. The ledger also
gives each admitted event its ``seq``, which decides the listing's current prediction.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from shared.contract import ListingClassified
from shared.db.submissions import ledger_entries
from shared.ml.model_repo import MANIFEST, MANIFESTS_DIR
from shared.trust import future_stamp


class KnownVersions:
    """The model versions the repository holds (``manifest.json`` and ``manifests/*.json``).

    A version not seen yet re-lists the repository, parsing only files not read before, so a
    revision published a moment ago is known and a flood of forged versions costs a listing.
    """

    def __init__(self, repository: Path) -> None:
        self.repository = Path(repository)
        self._seen: dict[Path, tuple[int, str | None]] = {}
        self._versions: set[str] = set()

    def require(self) -> None:
        """Raise when the repository holds no manifest at all (misconfigured, not bad input)."""
        self._rescan()
        if not self._versions:
            raise FileNotFoundError(
                f"No model manifest under {self.repository}: the writer checks every prediction's "
                "model version against the repository (set CATALOG_MODEL_REPOSITORY, mount it)."
            )

    def known(self, version: str) -> bool:
        if version not in self._versions:
            self._rescan()
        return version in self._versions

    def _rescan(self) -> None:
        folder = self.repository / MANIFESTS_DIR
        paths = [self.repository / MANIFEST, *(sorted(folder.glob("*.json")) if folder.is_dir() else [])]
        for path in paths:
            try:
                stamp = path.stat().st_mtime_ns
            except FileNotFoundError:
                continue
            if self._seen.get(path, (None, None))[0] == stamp:
                continue
            try:
                version = json.loads(path.read_text("utf-8")).get("version")
            except (OSError, ValueError, AttributeError):
                version = None  # half-written: read again at the next miss
                stamp = -1
            self._seen[path] = (stamp, version if isinstance(version, str) else None)
        self._versions = {v for _, v in self._seen.values() if v}


@dataclass
class Admission:
    """A batch split into the events to store (with their ledger seq) and the refused ones."""

    admitted: list[ListingClassified] = field(default_factory=list)
    sequence: dict[uuid.UUID, int] = field(default_factory=dict)
    refused: list[tuple[ListingClassified, str]] = field(default_factory=list)


def admit(
    session: Session,
    events: list[ListingClassified],
    versions: KnownVersions,
    max_skew_s: float,
    now: datetime | None = None,
) -> Admission:
    """Split ``events`` (one ledger query for the batch); see the module docstring."""
    result = Admission()
    live_ids = {_live_id(event) for event in events}
    ledger = ledger_entries(session, [sid for sid in live_ids if sid is not None])
    for event in events:
        reason = future_stamp(event, max_skew_s, now)
        if reason is None and not versions.known(event.model_version):
            reason = f"unknown_model_version: {event.model_version!r} is not in the model repository"
        live_id = _live_id(event)
        entry = ledger.get(live_id) if live_id is not None else None
        if reason is None and entry is None:
            reason = f"unknown_submission: {live_id} was never recorded in the submissions ledger"
        elif reason is None and entry is not None and entry.listing_id != event.listing_id:
            reason = f"listing_mismatch: {live_id} was submitted for listing {entry.listing_id!r}"
        if reason is not None:
            result.refused.append((event, reason))
            continue
        result.admitted.append(event)
        if not event.shadow and entry is not None and entry.seq is not None:
            result.sequence[event.submission_id] = entry.seq
    return result


def _live_id(event: ListingClassified) -> uuid.UUID | None:
    """The submission the ledger must hold: a shadow prediction's live one."""
    return event.shadow_of if event.shadow else event.submission_id
