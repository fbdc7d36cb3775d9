"""A tiny model repository that follows shared/ml/model_repo.py, built in milliseconds.

Real ONNX graphs and a real tokenizer, small enough for unit tests: a bag-of-words text model
(embedding sum) and a colour-mean image model. Trained repositories replace it where tests need
true predictions (the pipeline e2e test).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from shared.ml.model_repo import (
    ImageModelSpec,
    LabelSpec,
    Manifest,
    TextModelSpec,
    publish_manifest,
)
from shared.ml.text_preparation import KEY as TEXT_PREPARATION_KEY

LABELS = [(10, "Livres"), (40, "Jeux vidéo"), (1280, "Jouets"), (2583, "Piscine")]
WORDS = ["[PAD]", "[UNK]", "livre", "roman", "jeu", "console", "poupée", "lego", "piscine", "pompe"]

TEXT_CONFIG = """name: "{name}"
backend: "onnxruntime"
max_batch_size: 256
version_policy: {{ all {{ }} }}
input [
  {{ name: "input_ids" data_type: TYPE_INT64 dims: [ -1 ] }},
  {{ name: "attention_mask" data_type: TYPE_INT64 dims: [ -1 ] }}
]
output [ {{ name: "logits" data_type: TYPE_FP32 dims: [ {labels} ] }} ]
dynamic_batching {{ max_queue_delay_microseconds: 2000 }}
instance_group [ {{ count: 1 kind: KIND_GPU }} ]
"""

IMAGE_CONFIG = """name: "{name}"
backend: "onnxruntime"
max_batch_size: 256
version_policy: {{ all {{ }} }}
input [ {{ name: "image" data_type: TYPE_UINT8 dims: [ {size}, {size}, 3 ] }} ]
output [ {{ name: "logits" data_type: TYPE_FP32 dims: [ {labels} ] }} ]
"""


def _save(model: onnx.ModelProto, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    model.opset_import[0].version = 18
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def text_onnx(weights: np.ndarray) -> onnx.ModelProto:
    """logits = sum over tokens of weights[token] * mask."""
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", weights.shape[1]])
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["g"]),
        helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["m", "axis2"], ["m3"]),
        helper.make_node("Mul", ["g", "m3"], ["gm"]),
        helper.make_node("ReduceSum", ["gm", "axis1"], ["logits"], keepdims=0),
    ]
    inits = [
        numpy_helper.from_array(weights.astype(np.float32), "emb"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    return helper.make_model(helper.make_graph(nodes, "text", [ids, mask], [out], inits))


def image_onnx(weights: np.ndarray, size: int) -> onnx.ModelProto:
    """logits = mean RGB (0..1) @ weights."""
    image = helper.make_tensor_value_info("image", TensorProto.UINT8, ["batch", size, size, 3])
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", weights.shape[1]])
    nodes = [
        helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["f", "axes"], ["mean"], keepdims=0),
        helper.make_node("Div", ["mean", "scale"], ["norm"]),
        helper.make_node("MatMul", ["norm", "w"], ["logits"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "axes"),
        numpy_helper.from_array(np.array(255.0, dtype=np.float32), "scale"),
        numpy_helper.from_array(weights.astype(np.float32), "w"),
    ]
    return helper.make_model(helper.make_graph(nodes, "image", [image], [out], inits))


def write_tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = {w: i for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"pad_token": "[PAD]"}), "utf-8")


def build_repository(
    root: Path,
    revision: int = 1,
    seed: int = 0,
    image_size: int = 32,
    current: bool = True,
    translated: bool = False,
) -> Manifest:
    """Add revision ``revision`` to the repository at ``root`` and publish its manifest (current,
    as a promotion would make it, unless ``current=False``: then a candidate). ``translated``:
    recorded as trained on translated text, for serving with a translator."""
    rng = np.random.default_rng(seed)
    n = len(LABELS)
    text_w = rng.normal(size=(len(WORDS), n))
    text_w[0] = 0.0
    # Make keywords decisive so predictions are meaningful.
    for word, label in [
        ("livre", 0),
        ("roman", 0),
        ("jeu", 1),
        ("console", 1),
        ("lego", 2),
        ("poupée", 2),
        ("piscine", 3),
        ("pompe", 3),
    ]:
        text_w[WORDS.index(word), label] += 4.0
    image_w = rng.normal(size=(3, n)) * 3
    text_dir = root / "text_tiny"
    _save(text_onnx(text_w), text_dir / str(revision) / "model.onnx")
    write_tokenizer(text_dir / str(revision) / "tokenizer")
    (text_dir / "config.pbtxt").write_text(TEXT_CONFIG.format(name="text_tiny", labels=n), "utf-8")
    image_dir = root / "image_tiny"
    _save(image_onnx(image_w, image_size), image_dir / str(revision) / "model.onnx")
    (image_dir / "config.pbtxt").write_text(
        IMAGE_CONFIG.format(name="image_tiny", labels=n, size=image_size), "utf-8"
    )
    manifest = Manifest(
        version=f"r{revision}-test",
        revision=revision,
        created_at=datetime.now(UTC),
        labels=[LabelSpec(prdtypecode=c, name=name) for c, name in LABELS],
        text_models=[
            TextModelSpec(
                name="text_tiny",
                base="bag-of-words",
                triton_version=revision,
                tokenizer_dir=f"text_tiny/{revision}/tokenizer",
                max_length=16,
            )
        ],
        image_models=[
            ImageModelSpec(
                name="image_tiny",
                base="colour-mean",
                triton_version=revision,
                image_size=image_size,
                mean=[0.0, 0.0, 0.0],
                std=[1.0, 1.0, 1.0],
            )
        ],
        training={
            "class_counts": {"10": 5, "40": 3, "1280": 9, "2583": 1},
            TEXT_PREPARATION_KEY: {"translated": translated},
        },
    )
    return write_fusion(root, manifest, current)


def write_fusion(root: Path, manifest: Manifest, current: bool = True) -> Manifest:
    """Booster-only fusion files (full/text/image paths) in shared.ml.fusion's format."""
    from shared.ml.model_repo import FusionSpec

    n = len(manifest.labels)
    directory = f"fusion/{manifest.revision}"
    folder = root / directory
    folder.mkdir(parents=True, exist_ok=True)
    text_names = [m.name for m in manifest.text_models]
    image_names = [m.name for m in manifest.image_models]
    paths = {"full": text_names + image_names, "text": text_names, "image": image_names}
    files: dict[str, str] = {}
    for name, models in paths.items():
        width = n * len(models)
        w1 = np.eye(width)
        w2 = np.vstack([np.eye(n)] * len(models))
        np.savez(
            folder / f"booster_{name}.npz",
            mean=np.zeros(width),
            std=np.ones(width),
            w1=w1,
            b1=np.full(width, 5.0),
            w2=w2,
            b2=np.zeros(n),
        )
        files[f"booster_{name}"] = f"booster_{name}.npz"
    manifest = manifest.model_copy(
        update={"fusion": FusionSpec(directory=directory, files=files, params={"paths": paths})}
    )
    publish_manifest(root, manifest, make_current=current)
    return manifest
