"""The fusion-classifier worker: features.text + features.image -> listings.classified.

Joins both halves by submission_id in Redis (``join.py``: atomic Lua, TTL, idempotent under
redelivery), then runs the fusion model of the features' own version, text-only or image-only
when a modality is missing. One Redis pipeline per batch for the join.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.broker import Consumer, Emit, Outcome, Reject, WorkerApp, WorkerSpec
from shared.config import Settings
from shared.contract import ImageFeatures, ListingClassified, Stream, TextFeatures
from shared.inference.store import ModelStore
from shared.metrics import JOINS

from .classify import Pair, classify_pairs
from .join import Half, Joiner, RedisJoiner
from .shadow import as_shadow, shadow_pair

log = logging.getLogger(__name__)


@dataclass
class Deps:
    """Built once per process: the join state (Redis) and the store of fusion models."""

    settings: Settings
    joiner: Joiner
    store: ModelStore


async def fuse(events: list[Half], deps: Deps) -> list[Outcome]:
    """Records each half; classifies the submissions whose other half is already there."""
    joined = await deps.joiner.join(events)
    for r in joined:
        JOINS.labels(result=r.status).inc()  # waiting - complete over time: the join backlog
    complete = [(event, r) for event, r in zip(events, joined, strict=True) if r.status == "complete"]
    results = await classify_pairs(
        deps.store, [Pair(r.text, r.image) for _, r in complete], deps.settings.top_k
    )
    outcomes: list[Outcome] = []
    shadowed: list[tuple[Pair, ListingClassified]] = []
    for (event, r), result in zip(complete, results, strict=True):
        if isinstance(result, ListingClassified):
            outcomes.append(Emit(Stream.CLASSIFIED, result))
            candidate = shadow_pair(Pair(r.text, r.image))
            if candidate is not None:
                shadowed.append((candidate, result))
        else:
            outcomes.append(Reject(event, error=result))
    return outcomes + await _shadow_outcomes(deps, shadowed)


async def _shadow_outcomes(deps: Deps, shadowed: list[tuple[Pair, ListingClassified]]) -> list[Outcome]:
    """The shadow candidate's predictions of the shadowed pairs (never fails the live batch)."""
    if not shadowed:
        return []
    try:
        results = await classify_pairs(deps.store, [pair for pair, _ in shadowed], deps.settings.top_k)
    except Exception as exc:  # an experiment must not hold up live predictions
        log.warning("shadow fusion skipped", extra={"error": f"{type(exc).__name__}: {exc}"})
        return []
    return [
        Emit(Stream.CLASSIFIED, as_shadow(result, live.submission_id))
        for result, (_, live) in zip(results, shadowed, strict=True)
        if isinstance(result, ListingClassified)
    ]


async def on_text(events: list[TextFeatures], deps: Deps) -> list[Outcome]:
    """Records text halves; classifies submissions whose image half is already there."""
    return await fuse(list(events), deps)


async def on_image(events: list[ImageFeatures], deps: Deps) -> list[Outcome]:
    """Records image halves; classifies submissions whose text half is already there."""
    return await fuse(list(events), deps)


async def open_deps(settings: Settings, redis: Redis) -> Deps:
    store = ModelStore(settings.model_repository, poll_interval_s=settings.model_poll_interval_s)
    store.fusion(await store.current())
    return Deps(settings, RedisJoiner(redis, settings), store)


SPEC = WorkerSpec(
    name="fusion",
    consumes=(
        Consumer(Stream.TEXT_FEATURES, TextFeatures, on_text),
        Consumer(Stream.IMAGE_FEATURES, ImageFeatures, on_image),
    ),
    publishes=(Stream.CLASSIFIED,),
    open=open_deps,
    image="slim",
    description="Joins each offer's text and image logits and runs the fusion meta-model.",
)


def create_worker(settings: Settings) -> WorkerApp:
    """A worker fusing each submission's text and image logits once both have arrived."""
    return WorkerApp.from_spec(SPEC, settings)
