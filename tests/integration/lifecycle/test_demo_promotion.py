"""The demo promotes its background model through the gate of ``catalog promote``.

It once called ``promote()`` bare: the default tolerance instead of
``CATALOG_PROMOTION_TOLERANCE``, no database, and no held-out re-scoring when the two revisions
were trained on other data. Real repository, real (SQLite) database, bare manifests.
"""

from __future__ import annotations

from pathlib import Path

from services.demo.training import publish_model
from shared.config import Settings
from shared.db.session import upgrade
from shared.lifecycle.promotion import RECORDED_DATA_UNAVAILABLE
from shared.lifecycle.state import read_state
from shared.ml.model_repo import read_manifest
from tests.integration.lifecycle.helpers import manifest, publish


def _settings(repo: Path, sqlite_url: str, tolerance: float) -> Settings:
    upgrade(sqlite_url)
    return Settings().model_copy(
        update={"model_repository": repo, "database_url": sqlite_url, "promotion_tolerance": tolerance}
    )


def test_the_demo_gate_uses_the_settings_tolerance_and_database(tmp_path: Path, sqlite_url: str) -> None:
    repo = tmp_path / "repo"
    publish(repo, 1, 0.80)
    candidate = manifest(2, 0.70)  # 0.10 below: refused at the default 0.01, passes at 0.2
    settings = _settings(repo, sqlite_url, tolerance=0.2)

    assert publish_model(settings, candidate)

    change = read_state(repo).changes[-1]
    assert read_manifest(repo).version == candidate.version
    assert change.version == candidate.version and change.by == "catalog demo"
    assert not change.forced  # the gate passed with the configured tolerance: no override
    assert change.gate is not None and change.gate["tolerance"] == 0.2
    assert change.gate["corrected"]["status"] == "skipped"
    assert change.gate["corrected"].get("why") != "no database"  # it read the settings' database


def test_the_demo_gate_re_scores_revisions_trained_on_other_data(tmp_path: Path, sqlite_url: str) -> None:
    repo = tmp_path / "repo"
    publish(repo, 1, 0.80)
    candidate = manifest(2, 0.81)
    candidate.training["data_fingerprint"] = "fp2"  # other data: another held-out split
    settings = _settings(repo, sqlite_url, tolerance=0.01)

    assert publish_model(settings, candidate)

    gate = read_state(repo).changes[-1].gate
    assert gate is not None and gate["held_out"]["same_split"] is False
    # Re-scoring was attempted (these bare manifests have no data to re-score: it says so),
    # not skipped as a caller that never re-scores would ("different splits (not re-scored)").
    assert gate["held_out"]["basis"] == RECORDED_DATA_UNAVAILABLE
