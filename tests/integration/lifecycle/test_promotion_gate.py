"""The promotion gate on a real repository and a real (SQLite) database of labelled listings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.db.session import session_scope, upgrade
from shared.lifecycle.promotion import GateRefused, evaluate_gate, promote
from shared.lifecycle.state import LifecycleError, read_state, rollback, statuses
from shared.ml.model_repo import LabelSpec, publish_manifest, read_manifest
from shared.taxonomy.files import parse_json, reference_taxonomy, to_json
from shared.taxonomy.store import load_taxonomy
from tests.integration.lifecycle.helpers import label_listings, manifest, publish


@pytest.fixture
def db(sqlite_url: str) -> str:
    upgrade(sqlite_url)
    return sqlite_url


def test_a_worse_candidate_is_refused_a_better_one_promoted(tmp_path: Path, db: str) -> None:
    repo = tmp_path / "repo"
    r1 = publish(repo, 1, 0.80)
    r2 = publish(repo, 2, 0.70)  # worse on the held-out split
    r3 = publish(repo, 3, 0.805)  # within the tolerance of... better than r1
    assert read_manifest(repo).version == r1.version  # published revisions are candidates
    with pytest.raises(GateRefused) as refused:
        promote(repo, db, r2.version, by="bob", tolerance=0.01, min_labels=30)
    assert refused.value.report["held_out"]["status"] == "failed"
    assert "held-out weighted F1 0.7000 is below the current 0.8000" in str(refused.value)
    assert read_manifest(repo).version == r1.version and read_state(repo).changes == []

    report, change = promote(repo, db, r3.version, by="bob", reason="better", tolerance=0.01, min_labels=30)
    assert report["passed"] and report["held_out"]["same_split"] and not change.forced
    assert report["corrected"]["status"] == "skipped"  # nobody labelled anything yet
    assert read_manifest(repo).version == r3.version
    assert statuses(repo) == {r1.version: "retired", r2.version: "candidate", r3.version: "current"}
    assert [(c.action, c.version, c.by) for c in read_state(repo).changes] == [
        ("initial", r1.version, "unknown"),
        ("promote", r3.version, "bob"),
    ]

    other = manifest(4, 0.83)
    other.training["data_fingerprint"] = "fp2"  # trained on other data: another held-out split
    publish_manifest(repo, other)
    report = evaluate_gate(repo, db, other.version, tolerance=0.01, min_labels=30)
    assert report["passed"] and report["held_out"]["same_split"] is False
    assert any("different splits" in reason for reason in report["reasons"])

    back = rollback(repo, by="carol", reason="alert")
    assert back.version == r1.version and read_manifest(repo).version == r1.version
    with pytest.raises(LifecycleError, match="nothing to roll back to"):
        rollback(repo, by="carol")


def test_corrected_listings_refuse_a_candidate_and_force_records_who(tmp_path: Path, db: str) -> None:
    repo = tmp_path / "repo"
    r1 = publish(repo, 1, 0.80)
    r2 = publish(repo, 2, 0.82)  # better held-out, but worse where reviewers looked
    listings = [f"L{i:03d}" for i in range(40)]
    truth = {lid: 10 if i % 2 else 40 for i, lid in enumerate(listings)}
    live = {lid: (truth[lid] if i < 36 else 2583) for i, lid in enumerate(listings)}
    shadow = {lid: (truth[lid] if i < 20 else 1280) for i, lid in enumerate(listings)}
    label_listings(db, truth, {r1.version: live, f"{r2.version}-shadow": shadow})

    with pytest.raises(GateRefused) as refused:
        promote(repo, db, r2.version, by="bob", tolerance=0.01, min_labels=30)
    report = refused.value.report
    assert report["held_out"]["status"] == "passed"
    assert report["corrected"]["status"] == "failed" and report["corrected"]["listings"] == 40
    assert (
        report["corrected"]["current"]["accuracy"] == 0.9
        and report["corrected"]["candidate"]["accuracy"] == 0.5
    )
    assert report["shadow"]["compared"] == 40 and report["shadow"]["agreement"] == pytest.approx(20 / 40)
    assert read_manifest(repo).version == r1.version

    # Too few labels: the corrected check is skipped, the held-out one decides.
    report, _ = promote(repo, db, r2.version, by="bob", tolerance=0.01, min_labels=41, force=False)
    assert report["corrected"]["status"] == "skipped" and read_manifest(repo).version == r2.version
    rollback(repo, by="bob")

    report, change = promote(repo, db, r2.version, by="alice", reason="launch", force=True, min_labels=30)
    assert change.forced and change.by == "alice" and change.reason == "launch"
    assert read_state(repo).changes[-1].gate == report and not report["passed"]
    with pytest.raises(LifecycleError, match="current already"):
        promote(repo, db, r2.version, by="alice")


def test_the_cli_refuses_with_exit_code_3_promotes_and_lists_statuses(tmp_path: Path, db: str) -> None:
    """`catalog promote/shadow/models/rollback` as an operator runs them."""
    import json
    import os
    import subprocess
    import sys

    repo = tmp_path / "repo"
    r1, r2, r3 = publish(repo, 1, 0.80), publish(repo, 2, 0.70), publish(repo, 3, 0.81)
    env = {**os.environ, "CATALOG_DATABASE_URL": db, "CATALOG_MODEL_REPOSITORY": str(repo)}

    def catalog(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli.main", *args],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    refused = catalog("promote", r2.version, "--by", "bob")
    assert refused.returncode == 3 and "refused" in refused.stderr, refused.stderr
    assert read_manifest(repo).version == r1.version
    shadow = catalog("shadow", r3.version, "--share", "0.2", "--by", "bob")
    assert shadow.returncode == 0 and "20%" in shadow.stderr, shadow.stderr
    models = json.loads(catalog("models", "--json").stdout)["models"]
    assert {m["version"]: m["status"] for m in models} == {
        r1.version: "current",
        r2.version: "candidate",
        r3.version: "shadow",
    }
    promoted = catalog("promote", r3.version, "--by", "bob")
    assert promoted.returncode == 0 and read_manifest(repo).version == r3.version, promoted.stderr
    assert read_state(repo).shadow is None  # a live revision is no longer a shadow
    back = catalog("rollback", "--by", "carol")
    assert back.returncode == 0 and read_manifest(repo).version == r1.version, back.stderr


def test_the_gate_reports_coverage_at_target_precision_beside_weighted_f1(tmp_path: Path, db: str) -> None:
    from shared.ml.model_repo import publish_manifest
    from shared.ml.selective import SelectivePolicy
    from tests.integration.lifecycle.helpers import manifest as bare

    repo = tmp_path / "repo"
    r1 = publish(repo, 1, 0.80)  # a revision from before thresholds: no policy
    r2 = bare(2, 0.81)
    r2.selective = SelectivePolicy(
        target_precision=0.98,
        threshold=0.91,
        per_class={"10": 0.8},
        held_out_rows=200,
        coverage=0.62,
        precision=0.984,
        precision_ci95=(0.95, 0.995),
    )
    publish_manifest(repo, r2)
    report = evaluate_gate(repo, db, r2.version, tolerance=0.01, min_labels=30)
    coverage = report["held_out"]["coverage_at_target"]
    assert report["held_out"]["candidate_weighted_f1"] == 0.81
    assert coverage["current"] is None and read_manifest(repo).version == r1.version
    assert coverage["candidate"] == {
        "target_precision": 0.98,
        "coverage": 0.62,
        "precision": 0.984,
        "precision_ci95": [0.95, 0.995],
        "threshold": 0.91,
        "per_class_thresholds": 1,
    }


def test_a_candidate_trained_on_a_stale_taxonomy_is_refused_unless_forced(tmp_path: Path, db: str) -> None:
    """After a merge (2280 into 2403) and a new leaf, a candidate still trained on the reference
    tree predicts a merged code and cannot predict the new leaf: refused, ``force`` records it;
    one trained on the current version passes."""
    repo = tmp_path / "repo"
    publish(repo, 1, 0.80)
    stale = manifest(2, 0.85)
    stale.labels = [LabelSpec(prdtypecode=c, name=str(c)) for c in reference_taxonomy().live_leaves()]
    publish_manifest(repo, stale)
    body = json.loads(to_json(reference_taxonomy()))
    body["categories"].append({"code": 2999, "name": "Livres audio", "parent": 90001})
    body["merges"] = {"2280": 2403}
    current = parse_json(json.dumps(body))
    with session_scope(db) as session:
        load_taxonomy(session, current, source="v2")

    with pytest.raises(GateRefused) as refused:
        promote(repo, db, stale.version, by="bob", tolerance=0.01, min_labels=30)
    report = refused.value.report
    assert report["held_out"]["status"] == "passed" and report["taxonomy"]["status"] == "failed"
    assert report["taxonomy"]["no_longer_exist"]["merged"] == [{"code": 2280, "into": 2403}]
    assert report["taxonomy"]["cannot_predict"] == [2999]
    assert "stale taxonomy: trained on taxonomy" in str(refused.value)
    assert read_manifest(repo).version == "r1-gate"

    fresh = manifest(3, 0.85)
    fresh.taxonomy_version = current.version  # trained on the current tree (a subset of it)
    publish_manifest(repo, fresh)
    assert (
        evaluate_gate(repo, db, fresh.version, tolerance=0.01, min_labels=30)["taxonomy"]["status"]
        == "passed"
    )

    _, change = promote(repo, db, stale.version, by="bob", force=True, tolerance=0.01, min_labels=30)
    assert change.forced and read_manifest(repo).version == stale.version
