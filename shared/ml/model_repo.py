"""The model repository contract: what training writes, what workers and Triton load.

See docs/architecture.md §4.

Layout (Triton's, plus manifests)::

    model_repository/
      manifest.json                 the current version (written last, atomically); workers follow it
      manifests/<revision>.json     every version ever published (kept for in-flight events)
      text_<name>/config.pbtxt      version_policy all; <revision>/model.onnx + tokenizer/
      image_<name>/config.pbtxt     <revision>/model.onnx (uint8 NHWC input)
      fusion/<revision>/            booster + LightGBM files (run by the fusion worker)

A training run publishes revision ``n+1`` of every model it trains, as a candidate: only a
promotion (shared.lifecycle.promotion) makes it current, except the very first one. A
manifest names, for each model, the Triton version directory it uses. Old revisions stay until
pruned, so that features computed by revision ``n`` can still be fused by revision ``n``: no
prediction mixes versions.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.ml.selective import SelectivePolicy
from shared.ml.subword import SubwordSpec

MANIFEST = "manifest.json"
MANIFESTS_DIR = "manifests"


class LabelSpec(BaseModel):
    prdtypecode: int
    name: str


class TextModelSpec(BaseModel):
    """A Hugging Face sequence classifier exported to ONNX."""

    name: str = Field(..., description="Triton model name, e.g. text_minilm.")
    base: str = Field(..., description="Pretrained base it was fine-tuned from.")
    triton_version: int = Field(..., description="Version directory under the model folder.")
    tokenizer_dir: str = Field(..., description="Tokenizer files, relative to the repository root.")
    max_length: int = Field(..., description="Tokens per text (truncation length).")
    input_names: list[str] = Field(
        default_factory=lambda: ["input_ids", "attention_mask"],
        description="ONNX inputs, int64 [batch, sequence].",
    )
    output_name: str = Field("logits", description="ONNX output, float32 [batch, labels].")
    subword: SubwordSpec | None = Field(
        None,
        description="Set for fastText-style models: texts become hashed n-gram ids "
        "(shared.ml.subword) instead of going through tokenizer files.",
    )


class ImageModelSpec(BaseModel):
    """A timm backbone exported to ONNX, normalising inside the graph."""

    name: str = Field(..., description="Triton model name, e.g. image_efficientnet_lite0.")
    base: str = Field(..., description="timm architecture.")
    triton_version: int
    image_size: int = Field(224, description="Square input side in pixels.")
    mean: list[float] = Field(..., description="Normalisation mean (applied inside the graph).")
    std: list[float] = Field(..., description="Normalisation std (applied inside the graph).")
    resize: Literal["resize", "resize_center_crop"] = Field(
        "resize", description="How a photo is brought to image_size before inference."
    )
    input_name: str = Field("image", description="ONNX input, uint8 [batch, H, W, 3] RGB.")
    output_name: str = Field("logits", description="ONNX output, float32 [batch, labels].")


class FusionSpec(BaseModel):
    """Booster MLP + LightGBM meta-model over the concatenated logits."""

    directory: str = Field(..., description="Relative path of this revision's fusion files.")
    files: dict[str, str] = Field(default_factory=dict, description="Role -> file name inside directory.")
    params: dict[str, Any] = Field(default_factory=dict, description="Fusion hyper-parameters.")


class DriftReference(BaseModel):
    """What training saw, for drift monitoring (shared.lifecycle.drift); absent from older manifests."""

    class_shares: dict[str, float] = Field(
        default_factory=dict, description="prdtypecode -> share of the training rows."
    )
    confidence_edges: list[float] = Field(
        default_factory=list, description="Bin edges of the top-1 confidence histogram."
    )
    confidence_shares: list[float] = Field(
        default_factory=list, description="Share of held-out predictions per confidence bin."
    )
    no_photo_share: float | None = Field(None, description="Held-out offers without a usable photo.")
    languages: dict[str, float] = Field(
        default_factory=dict, description="Language code -> share, when training knew it."
    )


class Manifest(BaseModel):
    """One published version of the whole repository."""

    version: str = Field(..., description="Human-readable unique version, e.g. r3-20261125T1730.")
    revision: int = Field(..., ge=1, description="Monotonic integer revision.")
    created_at: datetime
    labels: list[LabelSpec] = Field(..., description="Codes in logit order, from training data.")
    text_models: list[TextModelSpec] = Field(default_factory=list)
    image_models: list[ImageModelSpec] = Field(default_factory=list)
    fusion: FusionSpec | None = None
    training: dict[str, Any] = Field(
        default_factory=dict, description="Profile, data fingerprint, split, timings."
    )
    metrics: dict[str, Any] = Field(default_factory=dict, description="Held-out evaluation.")
    reference: DriftReference | None = Field(None, description="Training distributions (drift).")
    selective: SelectivePolicy | None = Field(
        None,
        description="Auto-accept thresholds chosen on the held-out rows (shared.ml.selective); "
        "older manifests lack it and their predictions carry no decision.",
    )
    taxonomy_version: str = Field(
        "unknown",
        description="The taxonomy it was trained on (shared.taxonomy: its content hash); "
        "manifests written before taxonomies had versions read 'unknown'.",
    )

    @property
    def codes(self) -> list[int]:
        return [label.prdtypecode for label in self.labels]

    def model_versions(self) -> dict[str, str]:
        """Exact version of every model, as predictions record it."""
        versions = {m.name: str(m.triton_version) for m in self.text_models}
        versions.update({m.name: str(m.triton_version) for m in self.image_models})
        if self.fusion is not None:
            versions["fusion"] = self.fusion.directory
        return versions


def read_manifest(repository: Path, revision: int | None = None) -> Manifest:
    """The current manifest, or the one of ``revision``; a clear error when absent."""
    path = repository / MANIFEST if revision is None else repository / MANIFESTS_DIR / f"{revision}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"No model manifest at {path}. Train one with `catalog train --data DIR --out "
            f"{repository}` or point CATALOG_MODEL_REPOSITORY at an existing repository."
        )
    return Manifest.model_validate_json(path.read_text("utf-8"))


def find_manifest_by_version(repository: Path, version: str) -> Manifest:
    """The manifest whose ``version`` string is ``version`` (for in-flight events)."""
    current = read_manifest(repository)
    if current.version == version:
        return current
    for path in sorted((repository / MANIFESTS_DIR).glob("*.json")):
        manifest = Manifest.model_validate_json(path.read_text("utf-8"))
        if manifest.version == version:
            return manifest
    raise LookupError(f"Model version {version} is not in {repository}")


def next_revision(repository: Path) -> int:
    folder = repository / MANIFESTS_DIR
    revisions = [int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()]
    return max(revisions, default=0) + 1


def publish_manifest(repository: Path, manifest: Manifest, *, make_current: bool | None = None) -> bool:
    """Record ``manifest`` as a candidate revision; returns whether it became current.

    A published revision goes live only through the promotion gate (shared.lifecycle), except
    the very first one (nothing is current yet) or with ``make_current=True`` (tests, tools).
    Workers follow ``manifest.json``, never the newest file under ``manifests/``.
    """
    (repository / MANIFESTS_DIR).mkdir(parents=True, exist_ok=True)
    body = manifest.model_dump_json(indent=2)
    _atomic_write(repository / MANIFESTS_DIR / f"{manifest.revision}.json", body)
    current = make_current if make_current is not None else not (repository / MANIFEST).is_file()
    if current:
        _atomic_write(repository / MANIFEST, body)
    return current


def list_manifests(repository: Path) -> list[Manifest]:
    """Every published revision, oldest first (unreadable files are skipped)."""
    found: list[Manifest] = []
    for path in (repository / MANIFESTS_DIR).glob("*.json"):
        try:
            found.append(Manifest.model_validate_json(path.read_text("utf-8")))
        except ValueError:
            continue
    return sorted(found, key=lambda m: m.revision)


def atomic_write(path: Path, body: str) -> None:
    """Write ``body`` to ``path`` so that readers see the old or the new file, never half."""
    _atomic_write(path, body)


def _atomic_write(path: Path, body: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(body)
    os.replace(tmp, path)


def manifest_summary(manifest: Manifest) -> dict[str, Any]:
    return json.loads(manifest.model_dump_json(include={"version", "revision", "created_at", "metrics"}))
