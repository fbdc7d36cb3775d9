"""Test support for the writer's trust rules: a repository that holds given model versions, and
the ledger rows of classified events (the writer stores results only for recorded submissions
of known versions, services/writer/trust.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from shared.contract import Envelope, ListingSubmitted
from shared.db.session import migrate, session_scope
from shared.db.submissions import record_submissions


def versions_repository(root: Path, *versions: str) -> Path:
    """A model repository whose manifests name ``versions`` (all the writer reads of it)."""
    (root / "manifests").mkdir(parents=True, exist_ok=True)
    for k, version in enumerate(versions, start=1):
        (root / "manifests" / f"{k}.json").write_text(json.dumps({"version": version}), "utf-8")
    return root


def record(database_url: str, events: Sequence[Envelope]) -> None:
    """Record the submissions of ``events`` in the ledger, as their publisher would have."""
    migrate(database_url)
    submitted = [
        ListingSubmitted(
            **{
                **event.envelope(),
                "timestamps": {k: v for k, v in event.timestamps.items() if k == "submitted"},
            }
        )
        for event in events
    ]
    with session_scope(database_url) as session:
        record_submissions(session, submitted)
