"""From joined features to a :class:`ListingClassified` (fusion math is shared.ml.fusion's).

Rows are grouped by (model version, modalities present) so each group is one FusionModel call;
the fusion files used are those of the features' own revision, so a prediction never mixes
versions even while a new revision rolls out.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.contract import (
    CategoryScore,
    Envelope,
    ImageFeatures,
    ListingClassified,
    TextFeatures,
)
from shared.inference.store import ModelStore
from shared.ml.fusion import class_prior, path_for
from shared.ml.model_repo import Manifest
from shared.ml.selective import Decision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pair:
    """The two halves of one submission (either may be missing)."""

    text: TextFeatures | None
    image: ImageFeatures | None

    @property
    def envelope(self) -> Envelope:
        first = self.text or self.image
        if first is None:
            raise ValueError("a pair needs at least one half")
        return first

    def usable(self) -> tuple[TextFeatures | None, ImageFeatures | None]:
        """Halves with logits; an image of another version than the text is dropped."""
        text = self.text if self.text and self.text.status == "ok" and self.text.outputs else None
        image = self.image if self.image and self.image.status == "ok" and self.image.outputs else None
        if text and image and text.model_version != image.model_version:
            log.warning(
                "text and image features of different versions; using text only",
                extra={
                    "submission_id": str(text.submission_id),
                    "text": text.model_version,
                    "image": image.model_version,
                },
            )
            image = None
        return text, image


@dataclass(frozen=True)
class Unclassified:
    """A pair that cannot be classified, and why: the handler dead-letters its input with
    ``reason`` (a typed row error, so a result is never mistaken for a message)."""

    reason: str


def top_k(manifest: Manifest, probs: np.ndarray, k: int) -> list[CategoryScore]:
    order = np.argsort(-probs, kind="stable")[:k]
    return [
        CategoryScore(
            prdtypecode=manifest.labels[i].prdtypecode,
            label=manifest.labels[i].name,
            probability=float(min(1.0, max(0.0, probs[i]))),
        )
        for i in order
    ]


def _logits(halves: Sequence[TextFeatures | ImageFeatures]) -> dict[str, np.ndarray]:
    names = [o.model for o in halves[0].outputs]
    return {
        name: np.asarray([[*next(o.logits for o in h.outputs if o.model == name)] for h in halves])
        for name in names
    }


def _result(
    pair: Pair, manifest: Manifest, probs: np.ndarray, k: int, *, text: bool, image: bool
) -> ListingClassified:
    """The prediction of ``pair`` from ``probs``; ``text``/``image``: the modalities used."""
    scores = top_k(manifest, probs, k)
    versions = manifest.model_versions()
    used = {m.name for m in manifest.text_models if text} | {m.name for m in manifest.image_models if image}
    modalities: list = [m for m, flag in (("text", text), ("image", image)) if flag]
    reason: str | None = None
    if pair.image is not None and pair.image.status == "missing":
        reason = pair.image.reason
    elif pair.image is not None and not image:
        reason = "version_mismatch" if pair.image.status == "ok" else None
    envelope = pair.envelope.stamped("classified").envelope()
    for half in (pair.text, pair.image):
        if half is not None:
            envelope["timestamps"] = {**half.timestamps, **envelope["timestamps"]}
    return ListingClassified(
        **envelope,
        decision=decide(manifest, scores[0].prdtypecode, scores[0].probability, fused=text or image),
        prdtypecode=scores[0].prdtypecode,
        label=scores[0].label,
        confidence=scores[0].probability,
        top_k=scores,
        modalities=modalities,
        model_version=manifest.version,
        model_versions={n: v for n, v in versions.items() if n in used or n == "fusion"},
        image_missing_reason=reason,
        language=pair.text.language if pair.text else None,
        translation_status=pair.text.translation_status if pair.text else None,
    )


def decide(manifest: Manifest, prdtypecode: int, confidence: float, *, fused: bool) -> Decision | None:
    """``auto``/``review`` by the revision's thresholds (None: the revision has none); the class
    prior (nothing usable) is always ``review``."""
    if manifest.selective is None:
        return None
    return manifest.selective.decide(prdtypecode, confidence) if fused else "review"


async def classify_pairs(
    store: ModelStore, pairs: Sequence[Pair], k: int
) -> list[ListingClassified | Unclassified]:
    """A classification per pair, in order (the class prior when neither modality is usable;
    :class:`Unclassified` for a pair without any half)."""
    results: dict[int, ListingClassified | Unclassified] = {}
    groups: dict[tuple[str, bool, bool], list[int]] = defaultdict(list)
    usable = [pair.usable() for pair in pairs]
    for i, (text, image) in enumerate(usable):
        half = text or image or pairs[i].text or pairs[i].image
        if half is None:
            results[i] = Unclassified("neither a text nor an image half")
            continue
        groups[(half.model_version, text is not None, image is not None)].append(i)
    for (version, has_text, has_image), rows in groups.items():
        manifest = await store.by_version(version)
        fusion = store.fusion(manifest) if has_text or has_image else None
        if fusion is None or path_for(has_text, has_image) not in fusion.available_paths:
            # Nothing usable (or no fusion path trained for it): the training class prior,
            # as `catalog evaluate` does.
            prior = class_prior(manifest)
            for row in rows:
                results[row] = _result(pairs[row], manifest, prior, k, text=False, image=False)
            continue
        text_logits = _logits([usable[i][0] for i in rows]) if has_text else None  # type: ignore[misc]
        image_logits = _logits([usable[i][1] for i in rows]) if has_image else None  # type: ignore[misc]
        probs = fusion.predict_proba(text_logits, image_logits)
        for row, p in zip(rows, probs, strict=True):
            results[row] = _result(pairs[row], manifest, p, k, text=has_text, image=has_image)
    return [results[i] for i in range(len(pairs))]
