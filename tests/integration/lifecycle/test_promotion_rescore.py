"""The promotion gate on revisions trained on different catalogs (different held-out splits):
`catalog promote` re-scores both on their common held-out rows and decides on those figures,
not on the ones each manifest recorded on its own split.

Real tiny revisions (text only, bag of word pieces: seconds each) in one repository:

- r1 (current) on catalog A (the session's synthetic catalog);
- r2 on catalog B: another synthetic catalog plus 60 offers of A (some of which r1 trained on,
  so they must be left out of the common rows), trained reading only 3 characters of each text:
  clearly worse;
- r3 on catalog C (another synthetic catalog), trained normally.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from services.cli.commands.lifecycle import run_promotion
from services.cli.wiring import serving_preparer_for
from shared.config import Settings
from shared.db.session import upgrade
from shared.lifecycle.promotion import (
    RECORDED_DATA_UNAVAILABLE,
    RECORDED_TOO_FEW_ROWS,
    HeldOutFigures,
    evaluate_gate,
    promote,
)
from shared.lifecycle.state import read_state
from shared.ml.model_repo import Manifest, find_manifest_by_version, publish_manifest, read_manifest
from training import held_out
from training.data import X_FILE, Y_FILE, load_catalog


def held_out_figures(settings: Settings, version: str) -> HeldOutFigures | None:
    """As ``catalog promote`` measures them: each revision through its own language step."""
    return held_out.held_out_figures(settings, version, preparer_for=serving_preparer_for(settings))


@dataclasses.dataclass
class Trained:
    repo: Path
    a: Path
    b: Path
    c: Path
    versions: list[str]
    recorded: dict[str, float]  # as trained, before the test edits the manifests


def _train(data: Path, repo: Path, max_chars: int | None = None) -> Manifest:
    from training.pipeline import TrainRequest, train
    from training.profiles import get_profile

    profile = get_profile("tiny")
    if max_chars is not None:
        profile = dataclasses.replace(profile, max_chars=max_chars)
    return train(
        TrainRequest(data_dir=data, out=repo, text_bases=["bow"], image_bases=[], profile=profile,
                     instance_kind="KIND_CPU")
    )  # fmt: skip


@pytest.fixture(scope="module")
def trained(synthetic_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    from training.synth import generate_catalog

    base = tmp_path_factory.mktemp("rescore")
    b, c = base / "b", base / "c"
    generate_catalog(b, n=300, seed=12)
    generate_catalog(c, n=300, seed=13)
    # B also holds 60 offers of A (text only: their photos stay behind).
    for name in (X_FILE, Y_FILE):
        ours = pd.read_csv(b / name, index_col=0, dtype=str, keep_default_na=False)
        theirs = pd.read_csv(synthetic_catalog / name, index_col=0, dtype=str, keep_default_na=False)
        pd.concat([ours, theirs.iloc[:60]], ignore_index=True).to_csv(b / name)
    repo = base / "repo"
    revisions = [_train(synthetic_catalog, repo), _train(b, repo, max_chars=3), _train(c, repo)]
    recorded = {m.version: m.metrics["fusion"]["weighted_f1"] for m in revisions}
    return Trained(repo, synthetic_catalog, b, c, [m.version for m in revisions], recorded)


@pytest.fixture
def repo(trained: Trained, tmp_path: Path) -> Path:
    """A copy of the trained repository for one test (promotions change it)."""
    copy = tmp_path / "repo"
    shutil.copytree(trained.repo, copy, ignore=shutil.ignore_patterns(".work"))
    return copy


def _settings(repo: Path, tmp_path: Path, **extra: object) -> Settings:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    upgrade(url)
    return Settings(model_repository=repo, database_url=url, **extra)  # type: ignore[arg-type]


def _record(repo: Path, version: str, weighted_f1: float) -> None:
    """Edit the figure the manifest recorded at training (the gate must not use it here)."""
    manifest = find_manifest_by_version(repo, version)
    manifest.metrics["fusion"]["weighted_f1"] = weighted_f1
    publish_manifest(repo, manifest, make_current=False)


def _trained_on(repo: Path, version: str) -> set[str]:
    """Product ids and texts of the rows ``version`` trained on (its split file, its data)."""
    manifest = find_manifest_by_version(repo, version)
    split = json.loads((repo / manifest.training["split_file"]).read_text("utf-8"))
    catalog = load_catalog(Path(manifest.training["data_dir"]))
    at = {row: i for i, row in enumerate(catalog.row_ids)}
    return {
        key
        for row in split["train"]
        for key in (catalog.product_ids[at[row]], catalog.texts[at[row]].casefold())
    }


def test_a_candidate_worse_on_the_common_rows_is_refused_though_its_recorded_figure_is_higher(
    trained: Trained, repo: Path, tmp_path: Path
) -> None:
    r1, r2, _ = trained.versions
    assert read_manifest(repo).version == r1
    _record(repo, r2, 0.99)  # the recorded figure says "better"
    settings = _settings(repo, tmp_path)

    figures = held_out_figures(settings, r2)
    assert figures is not None and figures.basis == f"re-scored on {figures.rows} common held-out rows"
    assert figures.details["data_dir"] == str(trained.b)
    # Rows r1 trained on (B holds offers of A) are left out of the common rows, and only those.
    split = json.loads((repo / find_manifest_by_version(repo, r2).training["split_file"]).read_text())
    catalog = load_catalog(trained.b)
    at = {row: i for i, row in enumerate(catalog.row_ids)}
    seen = _trained_on(repo, r1)
    leaked = [
        r for r in split["test"] if {catalog.product_ids[at[r]], catalog.texts[at[r]].casefold()} & seen
    ]
    assert figures.details["candidate_held_out_rows"] == len(split["test"])
    assert figures.details["excluded_trained_by_current"] == len(leaked) > 0
    assert figures.rows == len(split["test"]) - len(leaked) >= 30
    assert figures.candidate_weighted_f1 is not None and figures.current_weighted_f1 is not None
    assert figures.candidate_weighted_f1 < figures.current_weighted_f1 - 0.05

    report = evaluate_gate(repo, settings.database_url, r2, tolerance=0.01, min_labels=30, held_out=figures)
    held = report["held_out"]
    assert not report["passed"] and held["status"] == "failed"
    assert held["recorded"]["candidate_weighted_f1"] == 0.99
    assert held["candidate_weighted_f1"] == figures.candidate_weighted_f1 != 0.99
    assert any(f"re-scored on {figures.rows} common held-out rows" in r for r in report["reasons"])

    # `catalog promote` (the composition root) re-scores by itself and refuses: exit code 3.
    assert run_promotion(settings, r2, by="bob", reason=None, force=False) == 3
    assert read_manifest(repo).version == r1 and read_state(repo).changes == []


def test_a_candidate_better_on_the_common_rows_is_promoted_though_its_recorded_figure_is_lower(
    trained: Trained, repo: Path, tmp_path: Path
) -> None:
    _, r2, r3 = trained.versions
    settings = _settings(repo, tmp_path)
    _record(repo, r2, 0.99)
    promote(repo, settings.database_url, r2, by="bob", force=True)  # the weak one goes live
    _record(repo, r3, 0.01)  # the recorded figures say "much worse"

    assert run_promotion(settings, r3, by="carol", reason="re-scored", force=False) == 0
    assert read_manifest(repo).version == r3
    change = read_state(repo).changes[-1]
    assert change.version == r3 and not change.forced and change.gate is not None
    held = change.gate["held_out"]
    assert held["basis"].startswith("re-scored on ") and held["rows"] >= 30
    assert held["excluded_trained_by_current"] == 0  # C shares no offer with B
    assert held["candidate_weighted_f1"] > held["current_weighted_f1"]
    # No row excluded: the candidate re-scored on its whole held-out split is its figure as trained.
    assert held["rows"] == held["candidate_held_out_rows"]
    assert held["candidate_weighted_f1"] == pytest.approx(trained.recorded[r3], abs=1e-4)
    assert held["recorded"] == {"candidate_weighted_f1": 0.01, "current_weighted_f1": 0.99}


def test_without_the_data_or_with_too_few_common_rows_the_recorded_figures_decide_and_the_report_says_so(
    trained: Trained, repo: Path, tmp_path: Path
) -> None:
    r1, r2, _ = trained.versions
    _record(repo, r2, 0.99)
    settings = _settings(repo, tmp_path, promotion_min_held_out_rows=1000)
    figures = held_out_figures(settings, r2)
    assert figures is not None and figures.basis == RECORDED_TOO_FEW_ROWS
    assert figures.candidate_weighted_f1 == 0.99 and figures.note and "(< 1000)" in figures.note

    moved = trained.b.with_name("b-away")
    trained.b.rename(moved)
    try:
        figures = held_out_figures(_settings(repo, tmp_path), r2)
    finally:
        moved.rename(trained.b)
    assert figures is not None and figures.basis == RECORDED_DATA_UNAVAILABLE
    assert figures.note and str(trained.b) in figures.note
    report, change = promote(repo, settings.database_url, r2, by="bob", held_out=figures)
    assert report["current"] == r1 and report["passed"] and change.version == r2  # recorded figures decided
    assert report["held_out"]["basis"] == RECORDED_DATA_UNAVAILABLE
    assert any(
        "recorded figures, data unavailable" in r and "different splits" in r for r in report["reasons"]
    )


def test_the_same_split_needs_no_rescoring(trained: Trained, repo: Path, tmp_path: Path) -> None:
    r1 = trained.versions[0]
    again = find_manifest_by_version(repo, r1).model_copy(update={"version": "r9-same", "revision": 9})
    publish_manifest(repo, again, make_current=False)
    settings = _settings(repo, tmp_path)
    assert held_out_figures(settings, "r9-same") is None
    report = evaluate_gate(repo, settings.database_url, "r9-same", tolerance=0.01, min_labels=30)
    assert report["held_out"]["basis"] == "same split" and report["held_out"]["same_split"]


def test_rescoring_a_large_held_out_split_reads_a_fixed_sample(
    trained: Trained, repo: Path, tmp_path: Path
) -> None:
    """Above CATALOG_PROMOTION_MAX_HELD_OUT_ROWS common rows, both revisions are scored on one
    sample fixed by the row ids: the same figures on every run, and the report says so."""
    _, r2, _ = trained.versions
    everything = held_out_figures(_settings(repo, tmp_path), r2)
    settings = _settings(repo, tmp_path, promotion_max_held_out_rows=35)
    sampled = held_out_figures(settings, r2)
    again = held_out_figures(settings, r2)
    assert everything is not None and sampled is not None and again is not None
    assert everything.rows > 35 and "sampled_from" not in everything.details
    assert sampled.rows == 35 and sampled.details["sampled_from"] == everything.rows
    assert sampled.basis == "re-scored on 35 common held-out rows"
    assert (sampled.candidate_weighted_f1, sampled.current_weighted_f1) == (
        again.candidate_weighted_f1,
        again.current_weighted_f1,
    )
