"""``catalog taxonomy load|show|diff`` on a real SQLite database and model repository, and the
taxonomy version a real training run records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli.main import app
from shared.config import get_settings
from shared.ml.model_repo import read_manifest
from shared.taxonomy.files import reference_taxonomy, to_json
from tests.integration.lifecycle.helpers import publish


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    repo = tmp_path / "repo"
    publish(repo, 1, 0.8)  # classes 10, 40, 1280, 2583, trained on the reference tree
    monkeypatch.setenv("CATALOG_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CATALOG_MODEL_REPOSITORY", str(repo))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_load_show_and_diff_a_model_after_a_merge_and_a_retirement(env: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["taxonomy", "show", "--tree"])
    assert shown.exit_code == 0 and "90006  Jardin & piscine\n  2582  Mobilier de jardin" in shown.output
    assert runner.invoke(app, ["taxonomy", "diff"]).exit_code == 0  # same version: not stale

    body = json.loads(to_json(reference_taxonomy()))
    for entry in body["categories"]:
        if entry["code"] == 1280:
            entry["retired"] = True
    body["merges"] = {"40": 2462}
    (env / "v2.json").write_text(json.dumps(body), "utf-8")
    dry = runner.invoke(app, ["taxonomy", "load", str(env / "v2.json"), "--dry-run"])
    assert dry.exit_code == 0 and "would load" in dry.output
    assert runner.invoke(app, ["taxonomy", "diff"]).exit_code == 0  # nothing stored by the dry run
    loaded = runner.invoke(app, ["taxonomy", "load", str(env / "v2.json")])
    assert loaded.exit_code == 0, loaded.output
    assert '"retired": [\n  1280\n ]' in loaded.output and '"40": 2462' in loaded.output

    diff = runner.invoke(app, ["taxonomy", "diff", "--model", "r1-gate"])
    assert diff.exit_code == 1  # stale
    report = json.loads(diff.stdout[diff.stdout.index("{") :])
    assert report["no_longer_exist"]["retired"] == [1280]
    assert report["no_longer_exist"]["merged"] == [{"code": 40, "into": 2462}]
    assert 2462 in report["cannot_predict"] and 10 not in report["cannot_predict"]
    shown = runner.invoke(app, ["taxonomy", "show"])
    assert "1280\tJouets & jeux > Jouets & Enfant\tretired" in shown.output


def test_a_bad_file_is_refused_with_every_problem(env: Path) -> None:
    bad = env / "bad.csv"
    bad.write_text("code,name,parent\n1,A,\n2,B,9\n2,C,1\n", "utf-8")
    result = CliRunner().invoke(app, ["taxonomy", "load", str(bad)])
    assert result.exit_code == 2
    assert "code 2 is listed twice" in result.output


def test_training_records_the_reference_taxonomy_and_names_classes_from_it(
    tiny_model_repository: Path,
) -> None:
    manifest = read_manifest(tiny_model_repository)
    assert manifest.taxonomy_version == reference_taxonomy().version
    assert {label.name for label in manifest.labels} <= {
        reference_taxonomy().name(c) for c in reference_taxonomy().live_leaves()
    }
