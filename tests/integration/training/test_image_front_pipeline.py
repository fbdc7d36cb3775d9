"""`catalog train` with the image front cached (training.image_front through
training.base_models): folds and refit train on the cache, the whole network is exported and
serves what training scored."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from shared.ml.model_repo import read_manifest
from training.pipeline import TrainRequest, train
from training.profiles import DEFAULT_IMAGE_BASE, get_profile
from training.synth import generate_catalog


def test_a_photo_only_training_on_the_cached_front_exports_the_whole_model(tmp_path: Path) -> None:
    generate_catalog(tmp_path / "data", n=160, seed=5)
    profile = replace(get_profile("tiny"), image_cache_front=True, image_epochs=2)
    manifest = train(
        TrainRequest(
            data_dir=tmp_path / "data",
            out=tmp_path / "repo",
            text_bases=[],
            image_bases=[DEFAULT_IMAGE_BASE],
            profile=profile,
            instance_kind="KIND_CPU",
        )
    )
    (spec,) = manifest.image_models
    caches = list((tmp_path / "repo" / ".work").glob(f"*/{spec.name}/front*x0.npy"))
    assert len(caches) == 1  # one front pass, shared by both folds and the refit
    runs = manifest.training["base_model_runs"][spec.name]
    assert set(runs) == {"fold0", "fold1", "full"}
    assert all(run["epochs_run"] >= 1 and run["val_loss"] for run in runs.values())
    # the exported ONNX graph is the whole network (front + trained tail), as torch computes it
    assert manifest.training["onnx_max_abs_diff"][spec.name] < 1e-3
    assert read_manifest(tmp_path / "repo").version == manifest.version
    assert manifest.metrics["models"][spec.name]["n"] > 0
