"""The fusion-classifier worker: features.text + features.image -> listings.classified.

Joins both halves by submission_id in Redis (shared.inference.join: atomic Lua, TTL, idempotent
under redelivery), then runs the fusion model of the features' own version, text-only or
image-only when a modality is missing. One Redis pipeline per batch for the join.
"""

from __future__ import annotations

from shared.broker import Emit, Reject, WorkerApp
from shared.config import Settings
from shared.contract import ImageFeatures, ListingClassified, Stream, TextFeatures
from shared.inference.classify import Pair, classify_pairs
from shared.inference.join import Half, join_batch
from shared.inference.store import ModelStore


def create_worker(settings: Settings) -> WorkerApp:
    """A worker fusing each submission's text and image logits once both have arrived."""
    worker = WorkerApp("fusion", settings)
    store = ModelStore(settings.model_repository, poll_interval_s=settings.model_poll_interval_s)

    @worker.on_startup
    async def load() -> None:
        store.fusion(await store.current())

    async def handle(events: list[Half]) -> list[Emit | Reject]:
        joined = await join_batch(worker.redis, settings, events)
        complete = [(event, r) for event, r in zip(events, joined, strict=True) if r.status == "complete"]
        results = await classify_pairs(store, [Pair(r.text, r.image) for _, r in complete], settings.top_k)
        outcomes: list[Emit | Reject] = []
        for (event, _), result in zip(complete, results, strict=True):
            if isinstance(result, ListingClassified):
                outcomes.append(Emit(Stream.CLASSIFIED, result))
            else:
                outcomes.append(Reject(event, error=result))
        return outcomes

    @worker.consume(Stream.TEXT_FEATURES, TextFeatures, batch=True)
    async def on_text(events: list[TextFeatures]) -> list[Emit | Reject]:
        """Records text halves; classifies submissions whose image half is already there."""
        return await handle(list(events))

    @worker.consume(Stream.IMAGE_FEATURES, ImageFeatures, batch=True)
    async def on_image(events: list[ImageFeatures]) -> list[Emit | Reject]:
        """Records image halves; classifies submissions whose text half is already there."""
        return await handle(list(events))

    return worker
