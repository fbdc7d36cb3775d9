"""The text-encoder worker: ``listings.prepared`` -> ``features.text`` (``catalog worker text-encoder``).

Per batch: one Redis round trip to pin each submission's model version (shared with the
image-encoder), then one inference request per text model and version.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from redis.asyncio import Redis

from shared.broker import Consumer, Emit, Outcome, WorkerApp, WorkerSpec
from shared.config import Settings
from shared.contract import ListingPrepared, Stream
from shared.inference.backend import InferenceBackend
from shared.inference.factory import create_backend
from shared.inference.pinning import RedisVersionPins, VersionPins
from shared.inference.shadow import with_shadow
from shared.inference.store import ModelStore, warm_up
from shared.ml.model_repo import Manifest

from .encode import encode_texts, text_logits


@dataclass
class Deps:
    """Built once per process: the inference backend and the model store over it."""

    pins: VersionPins
    backend: InferenceBackend
    store: ModelStore
    owns_backend: bool = True


async def encode(events: list[ListingPrepared], deps: Deps) -> list[Outcome]:
    """Tokenizes the French text and runs every text model of the pinned version (and of the
    shadow candidate on its sample of live offers)."""
    current = await deps.store.current()
    ids = [e.submission_id for e in events]
    versions = await deps.pins.pin(ids, current.version)
    texts = [e.text_fr or e.text for e in events]
    features = await encode_texts(
        deps.backend,
        deps.store,
        events,
        texts,
        versions,
        languages=[e.language.code for e in events],
        translations=[e.translation.status for e in events],
    )

    async def shadow_logits(manifest: Manifest, rows: list[int]) -> dict[str, np.ndarray]:
        return await text_logits(deps.backend, deps.store, manifest, [texts[i] for i in rows])

    features = await with_shadow(deps.store, events, features, shadow_logits)
    return [Emit(Stream.TEXT_FEATURES, f) for f in features]


async def open_deps(settings: Settings, redis: Redis, backend: InferenceBackend | None = None) -> Deps:
    runtime = backend or create_backend(settings)
    store = ModelStore(
        settings.model_repository,
        runtime,
        ("text",),
        settings.model_poll_interval_s,
        translated=settings.translator != "none",
    )
    await warm_up(store)
    return Deps(RedisVersionPins(redis, settings), runtime, store, owns_backend=backend is None)


async def model_ready(deps: Deps) -> None:
    """Ready once a model revision is served (``current`` raises until then)."""
    await deps.store.current()


async def close_deps(deps: Deps) -> None:
    if deps.owns_backend:
        await deps.backend.close()


SPEC = WorkerSpec(
    name="text-encoder",
    consumes=(Consumer(Stream.PREPARED, ListingPrepared, encode),),
    publishes=(Stream.TEXT_FEATURES,),
    open=open_deps,
    close=close_deps,
    ready=model_ready,
    image="inference",
    description="Runs every text model of the pinned model version on the prepared French text.",
)


def create_worker(settings: Settings, backend: InferenceBackend | None = None) -> WorkerApp:
    """A worker encoding prepared text in batches of ``settings.batch_size``."""

    async def opener(s: Settings, redis: Redis) -> Deps:
        return await open_deps(s, redis, backend)

    return WorkerApp.from_spec(SPEC, settings, open_deps=opener)
