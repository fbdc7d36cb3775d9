"""The shadow candidate's prediction of a joined submission (docs/architecture.md §10, shadow runs).

Each half may carry the shadow revision's logits (shared.inference.shadow). When every half
that has logits also has shadow logits of one and the same revision, the pair is re-built
with them and fused by that revision's fusion model; the result is a second
``listings.classified`` event marked ``shadow`` with its own, derived submission id, so it is
stored (idempotently) next to the live prediction and never becomes a listing's current one.
"""

from __future__ import annotations

import uuid

from shared.contract import ImageFeatures, ListingClassified, TextFeatures

from .classify import Pair

SHADOW_NAMESPACE = uuid.UUID("5d2b1f3e-8c4a-4e0b-9a51-7f1e2d3c4b5a")


def shadow_submission_id(submission_id: uuid.UUID, version: str) -> uuid.UUID:
    """Deterministic: a redelivered half re-produces the same shadow row, not a second one."""
    return uuid.uuid5(SHADOW_NAMESPACE, f"{submission_id}:{version}")


def shadow_pair(pair: Pair) -> Pair | None:
    """The pair as the shadow revision saw it, or None when it was not (fully) shadowed."""
    halves: list[TextFeatures | ImageFeatures] = [h for h in (pair.text, pair.image) if h is not None]
    live = [h for h in halves if h.status == "ok" and h.outputs]
    if not live or any(h.shadow is None for h in live):
        return None
    versions = {h.shadow.model_version for h in live if h.shadow is not None}
    if len(versions) != 1:
        return None
    version = versions.pop()

    def swap(half: TextFeatures | ImageFeatures | None) -> TextFeatures | ImageFeatures | None:
        if half is None:
            return None
        outputs = half.shadow.outputs if half.shadow is not None else []
        return half.model_copy(update={"model_version": version, "outputs": outputs, "shadow": None})

    text, image = swap(pair.text), swap(pair.image)
    return Pair(
        text if isinstance(text, TextFeatures) else None, image if isinstance(image, ImageFeatures) else None
    )


def as_shadow(result: ListingClassified, live_submission_id: uuid.UUID) -> ListingClassified:
    return result.model_copy(
        update={
            "submission_id": shadow_submission_id(live_submission_id, result.model_version),
            "shadow": True,
            "shadow_of": live_submission_id,
        }
    )
