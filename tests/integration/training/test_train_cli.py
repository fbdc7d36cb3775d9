"""`catalog train` / `catalog evaluate` as real processes on a tiny catalog (tiny profile)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shared.ml.fusion import FusionModel
from shared.ml.model_repo import read_manifest
from shared.ml.preprocess import TextTokenizer, decode_image, decode_target, prepare_image
from tests.unit.training.catalog import write_catalog
from training.data import load_catalog
from training.scoring import onnx_session

CATALOG = [sys.executable, "-m", "services.cli.main"]


def catalog(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CATALOG, *args], capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
    )


def lifecycle_env(repo: Path) -> dict[str, str]:
    """`catalog promote`/`rollback` on ``repo``, with a SQLite database next to it."""
    return {"CATALOG_MODEL_REPOSITORY": str(repo), "CATALOG_VAR_DIR": str(repo.parent / "var")}


def evaluate(data: Path, repo: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`catalog evaluate` writing out/r.json and out/p.csv (per-offer predictions)."""
    args = ["--json", str(out / "r.json"), "--predictions-csv", str(out / "p.csv"), *extra]
    return catalog("evaluate", "--data", str(data), "--model-repository", str(repo), *args)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("train")
    data = write_catalog(root / "data", n=64)
    repo = root / "repo"
    result = catalog(
        "train", "--data", str(data), "--out", str(repo), "--profile", "tiny", "--triton-kind", "KIND_CPU"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return data, repo


def test_repository_layout_and_manifest(trained: tuple[Path, Path]) -> None:
    data, repo = trained
    manifest = read_manifest(repo)
    assert manifest.revision == 1 and (repo / "manifests" / "1.json").is_file()
    assert manifest.codes == [10, 40, 1300, 2583]  # from the training data, in logit order
    assert manifest.labels[0].name == "Livres"
    subword, bow = manifest.text_models
    (image,) = manifest.image_models
    assert subword.name == "text_subword" and subword.subword is not None and subword.triton_version == 1
    assert bow.name == "text_bow" and bow.max_length == 64
    assert (repo / bow.tokenizer_dir / "tokenizer.json").is_file()
    assert image.name == "image_efficientnet_lite0" and image.image_size == 64
    assert image.mean == [0.485, 0.456, 0.406] and image.std == [0.229, 0.224, 0.225]
    for model_name in (subword.name, bow.name, image.name):
        assert (repo / model_name / "1" / "model.onnx").is_file()
        config = (repo / model_name / "config.pbtxt").read_text()
        assert 'backend: "onnxruntime"' in config and "kind: KIND_CPU" in config and "dims: [ 4 ]" in config
    assert manifest.fusion is not None and manifest.fusion.directory == "fusion/1"
    assert set(manifest.fusion.params["paths"]) == {"full", "text", "image"}
    for name in manifest.fusion.files.values():
        assert (repo / "fusion" / "1" / name).is_file()
    training = manifest.training
    assert training["data_fingerprint"] == load_catalog(data).fingerprint
    assert training["profile"]["name"] == "tiny" and training["rebalance"] is False
    assert all(gap < 1e-3 for gap in training["onnx_max_abs_diff"].values())
    split = json.loads((repo / training["split_file"]).read_text())
    assert split["seed"] == 42 and len(split["test"]) == manifest.metrics["evaluated_rows"] > 0
    assert len(split["folds"]) == len(split["train"]) == training["split"]["train"]
    assert training["text_preparation"]["translated"] is False
    assert manifest.metrics["baseline_tfidf_svm"]["n"] > 0
    for path, blend in manifest.fusion.params["blend"].items():
        assert path in manifest.fusion.params["paths"] and 0.0 <= blend["weight_meta"] <= 1.0
    assert set(training["base_model_runs"]["text_subword"]) == {"fold0", "fold1", "fold2", "full"}
    for key in ("models", "modalities", "fusion"):
        assert key in manifest.metrics
    assert 0.0 <= manifest.metrics["fusion"]["weighted_f1"] <= 1.0
    assert (repo / "training" / "1" / "confusion.png").is_file()


def _serve(repo: Path, texts: list[str], paths: list[Path | None]) -> tuple[list[int], list[str]]:
    """What the pipeline computes: shared.ml.preprocess + ONNX Runtime + shared.ml.fusion, per offer."""
    manifest = read_manifest(repo)
    fusion = FusionModel.load(repo, manifest)
    text_models = [
        (spec, onnx_session(repo / spec.name / "1" / "model.onnx"), TextTokenizer(repo, spec))
        for spec in manifest.text_models
    ]
    (image_spec,) = manifest.image_models
    image_session = onnx_session(repo / image_spec.name / "1" / "model.onnx")
    codes, used = [], []
    for text, path in zip(texts, paths, strict=True):
        text_logits = image_logits = None
        if text:
            text_logits = {
                spec.name: session.run(["logits"], tokenizer.encode([text]))[0]  # type: ignore[attr-defined]
                for spec, session, tokenizer in text_models
            }
        try:
            decoded = decode_image(path.read_bytes(), 10**7, decode_target(manifest)) if path else None
            pixels = prepare_image(decoded, image_spec) if decoded else None
        except ValueError:
            pixels = None
        if pixels is not None:
            image_logits = {image_spec.name: image_session.run(["logits"], {"image": pixels[None]})[0]}  # type: ignore[attr-defined]
        probs = fusion.predict_proba(text_logits, image_logits)
        codes.append(manifest.codes[int(probs.argmax())])
        used.append("+".join(m for m, v in (("text", text_logits), ("image", image_logits)) if v) or "none")
    return codes, used


def test_evaluate_scores_like_serving(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, repo = trained
    result = evaluate(data, repo, tmp_path, "--all")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["evaluated"] == "all offers" and report["evaluated_rows"] == 64
    assert set(report["modalities"]) == {"text", "image"} and "10" in report["per_class"]
    assert Path(report["confusion_png"]).is_file()
    assert report["rebalance"]["enabled"] is False
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    cat = load_catalog(data)
    codes, used = _serve(repo, cat.texts, cat.image_paths)
    assert [int(r["prdtypecode"]) for r in rows] == codes
    assert [r["modalities"] for r in rows] == used
    assert used[5] == "text" and used[6] == "text" and used[9] == "image"  # missing/corrupt photo, empty text
    assert [r["productid"] for r in rows] == cat.product_ids
    probabilities = np.array([float(r["probability"]) for r in rows])
    assert ((probabilities > 0) & (probabilities <= 1)).all()


def test_default_evaluation_uses_the_saved_held_out_split(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, repo = trained
    result = catalog(
        "evaluate", "--data", str(data), "--model-repository", str(repo), "--json", str(tmp_path / "r.json")
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    manifest = read_manifest(repo)
    assert report["evaluated"] == "held-out split"
    assert report["fusion"] == manifest.metrics["fusion"]  # same rows, same functions, same numbers


def test_a_new_run_is_a_candidate_until_promoted(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, repo = trained
    result = catalog(
        "train", "--data", str(data), "--out", str(repo), "--profile", "tiny", "--triton-kind", "KIND_CPU"
    )
    assert result.returncode == 0, result.stderr
    assert "candidate" in result.stderr
    candidate = read_manifest(repo, 2)
    assert read_manifest(repo).revision == 1  # workers follow "current", not the newest on disk
    assert (repo / "text_subword" / "1" / "model.onnx").is_file() and (
        repo / "text_subword" / "2" / "model.onnx"
    ).is_file()
    assert (repo / "fusion" / "1").is_dir() and (repo / "fusion" / "2").is_dir()
    reference = candidate.reference
    assert reference is not None and set(reference.class_shares) == {"10", "40", "1300", "2583"}
    assert abs(sum(reference.confidence_shares) - 1) < 1e-3 and reference.no_photo_share is not None
    env = lifecycle_env(repo)
    promoted = catalog("promote", candidate.version, "--force", "--by", "ci", "--reason", "test", env=env)
    assert promoted.returncode == 0, promoted.stderr
    assert read_manifest(repo).version == candidate.version
    state = json.loads((repo / "lifecycle.json").read_text())
    assert [(c["action"], c["version"]) for c in state["changes"]] == [
        ("initial", read_manifest(repo, 1).version),
        ("promote", candidate.version),
    ]
    assert state["changes"][-1]["by"] == "ci" and state["changes"][-1]["gate"]["held_out"]["same_split"]
    rolled = catalog("rollback", "--by", "ci", env=env)
    assert rolled.returncode == 0, rolled.stderr
    assert read_manifest(repo).revision == 1


def test_rebalanced_run_reports_whether_it_helped(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, repo = trained
    args = ["--profile", "tiny", "--triton-kind", "KIND_CPU", "--rebalance", "--promote", "--force"]
    result = catalog("train", "--data", str(data), "--out", str(repo), *args, env=lifecycle_env(repo))
    assert result.returncode == 0, result.stderr
    manifest = read_manifest(repo)
    assert manifest.training["rebalance"] is True
    result = evaluate(data, repo, tmp_path)
    assert result.returncode == 0, result.stderr
    effect = json.loads((tmp_path / "r.json").read_text())["rebalance"]
    assert (
        effect["enabled"] is True
        and effect["compared_with"] == read_manifest(repo, manifest.revision - 1).version
    )
    assert effect["helped"] == (
        effect["weighted_f1_with_rebalance"] > effect["weighted_f1_without_rebalance"]
    )


def test_text_only_training_and_inference_only_data(tmp_path: Path) -> None:
    data = write_catalog(tmp_path / "data", n=48, seed=3)
    repo = tmp_path / "repo"
    result = catalog(
        "train", "--data", str(data), "--out", str(repo), "--profile", "tiny", "--modalities", "text"
    )
    assert result.returncode == 0, result.stderr
    manifest = read_manifest(repo)
    assert manifest.image_models == [] and manifest.fusion is not None
    assert list(manifest.fusion.params["paths"]) == ["text"]
    unlabeled = write_catalog(tmp_path / "new", n=16, seed=4, labels=False)
    result = evaluate(unlabeled, repo, tmp_path)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert len(rows) == 16 and {int(r["prdtypecode"]) for r in rows} <= set(manifest.codes)
    assert rows[9]["modalities"] == "none"  # empty text and no image model: the class prior


def test_photo_only_catalog_gets_a_held_out_split_and_a_report(tmp_path: Path) -> None:
    from tests.unit.training.test_split import photo_only_catalog

    data = photo_only_catalog(tmp_path / "data", n=80)  # every title "article", no description
    repo = tmp_path / "repo"
    result = catalog(
        "train", "--data", str(data), "--out", str(repo), "--profile", "tiny", "--modalities", "image"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = read_manifest(repo)
    assert manifest.training["split_group_by"] == "photo"
    assert manifest.metrics["evaluated_rows"] >= 8 and "image" in manifest.metrics["modalities"]


def test_errors_say_what_to_do(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from services.cli.main import app

    runner = CliRunner()
    result = runner.invoke(
        app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--profile", "tiny"]
    )
    assert result.exit_code == 2 and "catalog synth" in result.output
    result = runner.invoke(
        app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--modalities", "x"]
    )
    assert result.exit_code == 2
    args = ["evaluate", "--data", str(tmp_path), "--model-repository", str(tmp_path), "--json", "x.json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "catalog train" in result.output
