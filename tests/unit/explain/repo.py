"""A tiny model repository whose deciding word or photo region is known by construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from shared.ml.model_repo import Manifest
from tests.unit.inference.repo_fixture import WORDS, build_repository, text_onnx

# Colour each class's detector looks for (class order of repo_fixture.LABELS).
DETECTED = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, -1]], dtype=np.float32).T * 6.0


def colour_detector_onnx(size: int) -> onnx.ModelProto:
    """logits = max over pixels of (rgb/255 - 0.5) @ DETECTED: a spot of a class's colour anywhere
    decides, like an object detector (unlike a colour mean, it is spatially selective)."""
    image = helper.make_tensor_value_info("image", TensorProto.UINT8, ["batch", size, size, 3])
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", DETECTED.shape[1]])
    nodes = [
        helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["f", "scale"], ["unit"]),
        helper.make_node("Sub", ["unit", "half"], ["centred"]),
        helper.make_node("MatMul", ["centred", "w"], ["scores"]),
        helper.make_node("ReduceMax", ["scores", "axes"], ["logits"], keepdims=0),
    ]
    inits = [
        numpy_helper.from_array(np.array(255.0, dtype=np.float32), "scale"),
        numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half"),
        numpy_helper.from_array(DETECTED, "w"),
        numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "axes"),
    ]
    return helper.make_model(helper.make_graph(nodes, "detector", [image], [out], inits))


def _save(model: onnx.ModelProto, path: Path) -> None:
    model.opset_import[0].version = 18
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def build_explain_repository(root: Path) -> Manifest:
    """The tiny repository of tests/unit/inference, with two changes that make the deciding piece
    of an offer known by construction:

    - text: eight keywords add +4 to their class; every other word maps to [UNK], whose random
      weights are scaled down so that filler never decides alone;
    - photo: a colour-spot detector (:func:`colour_detector_onnx`) replaces the colour mean.
    """
    manifest = build_repository(root)
    text_path = root / "text_tiny" / "1" / "model.onnx"
    graph = onnx.load(str(text_path)).graph
    weights = next(numpy_helper.to_array(t) for t in graph.initializer if t.name == "emb").copy()
    weights[WORDS.index("[UNK]")] *= 0.15
    _save(text_onnx(np.asarray(weights)), text_path)
    _save(colour_detector_onnx(manifest.image_models[0].image_size), root / "image_tiny" / "1" / "model.onnx")
    return manifest
