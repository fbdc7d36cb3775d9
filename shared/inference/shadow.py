"""Shadow runs in the encoders: the candidate's logits ride along with the live ones.

Both encoders take the same sample (a hash of the submission id, shared.lifecycle) of live
offers (``origin.kind == "ingest"``; bulk re-runs are not live traffic), run the shadow
revision's models on it and attach the logits to the features event (``shadow`` field); fusion
then emits a second, shadow-marked prediction. A failing shadow never fails the live batch.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import numpy as np

from shared.contract import Envelope, ImageFeatures, ShadowOutputs, TextFeatures
from shared.inference.batching import model_outputs
from shared.inference.store import ModelStore
from shared.lifecycle.state import in_shadow_sample
from shared.ml.model_repo import Manifest

log = logging.getLogger(__name__)
F = TypeVar("F", TextFeatures, ImageFeatures)


def sampled_rows(envelopes: Sequence[Envelope], usable: Sequence[bool], share: float) -> list[int]:
    """Rows of live offers with usable input that fall in the shadow sample."""
    return [
        i
        for i, (event, ok) in enumerate(zip(envelopes, usable, strict=True))
        if ok and event.origin.kind == "ingest" and in_shadow_sample(event.submission_id, share)
    ]


async def with_shadow(
    store: ModelStore,
    envelopes: Sequence[Envelope],
    features: list[F],
    logits_of: Callable[[Manifest, list[int]], Awaitable[dict[str, np.ndarray]]],
) -> list[F]:
    """``features`` with the shadow candidate's logits attached to the sampled rows.

    ``logits_of(manifest, rows)`` runs the shadow revision's models on those rows.
    """
    try:
        shadow = await store.shadow()
        if shadow is None:
            return features
        manifest, share = shadow
        rows = sampled_rows(envelopes, [f.status == "ok" and bool(f.outputs) for f in features], share)
        if not rows:
            return features
        logits = await logits_of(manifest, rows)
    except Exception as exc:  # the shadow is an experiment: it must never hold up live offers
        log.warning("shadow run skipped", extra={"error": f"{type(exc).__name__}: {exc}"})
        return features
    out = list(features)
    for k, i in enumerate(rows):
        extra = ShadowOutputs(model_version=manifest.version, outputs=model_outputs(logits, k))
        out[i] = features[i].model_copy(update={"shadow": extra})
    return out
