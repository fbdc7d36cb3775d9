"""The fusion-classifier worker: features.text + features.image -> listings.classified.

Joins both halves by submission_id in Redis (``join.py``: atomic Lua, TTL, idempotent under
redelivery), then runs the fusion model of the features' own version, text-only or image-only
when a modality is missing. One Redis round trip (one script call) per batch for the join.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from redis.asyncio import Redis

from shared.broker import Consumer, Emit, EventPublisher, Outcome, Reject, WorkerApp, WorkerSpec
from shared.broker.lanes import bulk_turn, chunks, lane_of
from shared.config import Settings
from shared.contract import ImageFeatures, Lane, ListingClassified, Stream, TextFeatures
from shared.inference.store import ModelStore
from shared.metrics import JOINS

from .admit import refuse_unknown_versions
from .classify import Pair, Unclassified, classify_pairs
from .expiry import claim_expired, release, resolve
from .join import Half, Joiner, RedisJoiner
from .shadow import as_shadow, shadow_pair

log = logging.getLogger(__name__)


@dataclass
class Deps:
    """Built once per process: the join state, the store of fusion models and ``top_k``; in a
    running worker, also one pass of the expired-join sweep (bound to its Redis, publisher and
    settings), its interval, and what to close at the end."""

    joiner: Joiner
    store: ModelStore
    top_k: int
    sweep: Callable[[], Awaitable[int]] | None = None
    sweep_interval_s: float = 30.0
    resources: AsyncExitStack = field(default_factory=AsyncExitStack)


async def fuse(events: list[Half], deps: Deps) -> list[Outcome]:
    """Records each half; classifies the submissions whose other half is already there.
    A half of an unknown model version is dead-lettered at once (``admit.py``)."""
    events, refused = await refuse_unknown_versions(events, deps.store)
    if not events:
        return list(refused)
    joined = await deps.joiner.join(events)
    for r in joined:
        JOINS.labels(result=r.status).inc()  # waiting - complete over time: the join backlog
    complete = [(event, r) for event, r in zip(events, joined, strict=True) if r.status == "complete"]
    results = await classify_in_turns(deps, [Pair(r.text, r.image) for _, r in complete], lane_of(events[0]))
    late = [event for event, r in zip(events, joined, strict=True) if r.status == "late"]
    for event in late:
        log.warning(
            "half arrived after its join expired; the offer was classified without it",
            extra={"submission_id": str(event.submission_id), "half": type(event).__name__},
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
            outcomes.append(Reject(event, error=result.reason))
    return [*refused, *outcomes, *await _shadow_outcomes(deps, shadowed)]


async def classify_in_turns(
    deps: Deps, pairs: list[Pair], lane: Lane
) -> list[ListingClassified | Unclassified]:
    """``classify_pairs`` of a batch; a bulk batch in chunks, each after the live batches that
    arrived meanwhile (the fusion model runs on the event loop: a whole bulk batch held it)."""
    results: list[ListingClassified | Unclassified] = []
    for rows in chunks(lane, len(pairs)):
        await bulk_turn(lane)
        results += await classify_pairs(deps.store, pairs[rows.start : rows.stop], deps.top_k)
    return results


async def _shadow_outcomes(deps: Deps, shadowed: list[tuple[Pair, ListingClassified]]) -> list[Outcome]:
    """The shadow candidate's predictions of the shadowed pairs (never fails the live batch)."""
    if not shadowed:
        return []
    try:
        results = await classify_pairs(deps.store, [pair for pair, _ in shadowed], deps.top_k)
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


async def sweep_expired(
    store: ModelStore, redis: Redis, publisher: EventPublisher, settings: Settings
) -> int:
    """One pass: classify or dead-letter every half alone past its deadline; how many."""
    expired = await claim_expired(redis, settings)
    if not expired:
        return 0
    predictions, letters = await resolve(expired, store, settings, worker="fusion")
    await publisher.publish(Stream.CLASSIFIED, predictions)
    await publisher.publish(Stream.DEAD, letters)
    await release(redis, settings, [e.submission_id for e in expired])
    log.warning(
        "expired joins resolved",
        extra={"classified_degraded": len(predictions), "dead_letters": len(letters)},
    )
    return len(expired)


async def sweep_forever(deps: Deps) -> None:
    """The worker's background task (``WorkerSpec.background``): a sweep every interval; a
    failed pass (Redis down a moment) is retried at the next one."""
    if deps.sweep is None:
        raise RuntimeError("the fusion worker's dependencies were opened without a sweep")
    while True:
        await asyncio.sleep(deps.sweep_interval_s)
        try:
            await deps.sweep()
        except Exception:
            log.exception("expired join sweep failed; retried next pass")


async def open_deps(settings: Settings, redis: Redis) -> Deps:
    store = ModelStore(settings.model_repository, poll_interval_s=settings.model_poll_interval_s)
    store.fusion(await store.current())
    resources = AsyncExitStack()
    publisher = await resources.enter_async_context(EventPublisher(settings))

    async def sweep() -> int:
        return await sweep_expired(store, redis, publisher, settings)

    # A quarter of the join's TTL (0.2 s to 30 s): a lone half waits little past its deadline.
    interval_s = min(30.0, max(0.2, settings.join_ttl_s / 4))
    return Deps(RedisJoiner(redis, settings), store, settings.top_k, sweep, interval_s, resources)


async def close_deps(deps: Deps) -> None:
    """Closes the sweep's publisher (the worker stops the sweep itself before this)."""
    await deps.resources.aclose()


SPEC = WorkerSpec(
    name="fusion",
    consumes=(
        Consumer(Stream.TEXT_FEATURES, TextFeatures, on_text),
        Consumer(Stream.IMAGE_FEATURES, ImageFeatures, on_image),
    ),
    publishes=(Stream.CLASSIFIED,),
    open=open_deps,
    close=close_deps,
    background=sweep_forever,
    image="slim",
    description="Joins each offer's text and image logits and runs the fusion meta-model; "
    "classifies a half left alone past join_ttl_s on its own (degraded) or dead-letters it.",
)


def create_worker(settings: Settings) -> WorkerApp:
    """A worker fusing each submission's text and image logits once both have arrived."""
    return WorkerApp.from_spec(SPEC, settings)
