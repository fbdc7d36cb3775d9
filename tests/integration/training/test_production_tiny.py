"""`catalog train --profile production-tiny`: the production recipe's code path at test size,
on the CPU: local transformer bases (one with only a slow tokenizer, like FlauBERT), random-init
timm backbones fully fine-tuned with a loader worker, then `catalog evaluate` (streamed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.ml.model_repo import read_manifest
from tests.unit.training.catalog import write_catalog
from training.data import load_catalog
from training.random_bases import write_random_base

CATALOG = [sys.executable, "-m", "services.cli.main"]
pytestmark = pytest.mark.timeout(1500)  # a full (tiny) production run on 2 shared cores


def catalog(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CATALOG, *args], capture_output=True, text=True, timeout=900)


def slow_tokenizer_base(directory: Path) -> Path:
    """A tiny BERT whose tokenizer has no fast version (ByT5's, pure Python): FlauBERT's case."""
    from transformers import BertConfig, BertForSequenceClassification, ByT5Tokenizer

    tokenizer = ByT5Tokenizer()
    tokenizer.save_pretrained(str(directory))
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=80, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("production")
    data = write_catalog(root / "data", n=64)
    texts = load_catalog(data).texts
    camembert = write_random_base("camembert-base", texts, root / "camembert-tiny", tiny=True)
    slow = slow_tokenizer_base(root / "slowbert-tiny")
    repo = root / "repo"
    result = catalog(
        "train", "--data", str(data), "--out", str(repo), "--profile", "production-tiny",
        "--device", "auto", "--triton-kind", "KIND_CPU", "--translation", "off",
        "--text-base", str(camembert), "--text-base", str(slow), "--image-base", "test_convnext=random",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return data, repo


def test_production_tiny_trains_every_base_on_the_device_path(trained: tuple[Path, Path]) -> None:
    _, repo = trained
    manifest = read_manifest(repo)
    assert manifest.training["device"] == "cpu"  # auto, on a machine without CUDA
    profile = manifest.training["profile"]
    assert profile["name"] == "production-tiny" and profile["image_freeze_fraction"] == 0.0
    assert [m.name for m in manifest.text_models] == ["text_camembert_tiny", "text_slowbert_tiny"]
    assert [m.name for m in manifest.image_models] == ["image_test_convnext"]
    slow = manifest.text_models[1]
    assert not (repo / slow.tokenizer_dir / "tokenizer.json").exists()
    assert (repo / slow.tokenizer_dir / "tokenizer_config.json").is_file()
    assert all(gap < 1e-3 for gap in manifest.training["onnx_max_abs_diff"].values())
    runs = manifest.training["base_model_runs"]
    assert runs["image_test_convnext"]["full"]["epochs_run"] >= 1
    assert all(len(run["val_loss"]) == run["epochs_run"] for run in runs["text_camembert_tiny"].values())
    assert 0.0 <= manifest.metrics["fusion"]["weighted_f1"] <= 1.0


def test_evaluate_scores_the_production_repository(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, repo = trained
    result = catalog(
        "evaluate", "--data", str(data), "--model-repository", str(repo), "--json", str(tmp_path / "r.json")
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    body = json.loads((tmp_path / "r.json").read_text("utf-8"))
    manifest = read_manifest(repo)
    assert body["fusion"] == manifest.metrics["fusion"]  # evaluate re-scores the same split alike
    assert set(body["models"]) == {m.name for m in manifest.text_models + manifest.image_models}


def test_cuda_on_a_machine_without_one_is_a_clear_error(tmp_path: Path) -> None:
    data = write_catalog(tmp_path / "data", n=16)
    result = catalog("train", "--data", str(data), "--out", str(tmp_path / "r"), "--device", "cuda")
    assert result.returncode == 2 and "no CUDA device" in result.stdout + result.stderr
    assert not (tmp_path / "r" / "manifests").exists()
