"""The image-encoder worker: ``listings.submitted`` -> ``features.image`` (``catalog worker image-encoder``).

Runs beside the language worker (its own consumer group on the same stream). Per batch: images
fetched concurrently under the size/pixel/time limits, one Redis round trip to pin versions, one
inference request per image model and version. An unusable image gives a ``missing`` event with
its reason, so fusion still classifies the offer from its text.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import httpx
import numpy as np
from redis.asyncio import Redis

from shared.broker import Consumer, Emit, Outcome, WorkerApp, WorkerSpec
from shared.broker.lanes import lane_of
from shared.config import Settings
from shared.contract import ListingSubmitted, Stream
from shared.inference.backend import InferenceBackend
from shared.inference.factory import create_backend
from shared.inference.pinning import RedisVersionPins, VersionPins
from shared.inference.shadow import with_shadow
from shared.inference.store import ModelStore, warm_up
from shared.ml.model_repo import Manifest
from shared.ml.preprocess import decode_target
from shared.trust import refuse_future

from .encode import encode_images, image_logits
from .images import ImageProblem, ImageSettings, http_client, load_images

log = logging.getLogger(__name__)


@dataclass
class Deps:
    """Built once per process: the image limits, the HTTP client for photos, the backend and the
    model store."""

    limits: ImageSettings
    pins: VersionPins
    http: httpx.AsyncClient
    backend: InferenceBackend
    store: ModelStore
    max_skew_s: float
    owns_backend: bool = True


async def encode(events: list[ListingSubmitted], deps: Deps) -> list[Outcome]:
    """Loads, decodes and resizes each image, then runs every image model of the pinned version."""
    # A `submitted` stamp beyond the clock skew is refused, as the language worker does.
    events, refused = refuse_future(events, deps.max_skew_s)
    if not events:
        return list(refused)
    current = await deps.store.current()
    target = decode_target(current)
    lane = lane_of(events[0])  # a batch is read from one lane's stream
    images = await load_images([e.image_uri for e in events], deps.limits, deps.http, target, lane)
    ids = [e.submission_id for e in events]
    versions = await deps.pins.pin(ids, current.version)
    features = await encode_images(deps.backend, deps.store, events, images, versions)

    async def shadow_logits(manifest: Manifest, rows: list[int]) -> dict[str, np.ndarray]:
        decoded = [images[i] for i in rows]
        return await image_logits(
            deps.backend, manifest, [im for im in decoded if not isinstance(im, ImageProblem)]
        )

    features = await with_shadow(deps.store, events, features, shadow_logits)
    missing = Counter(f.reason for f in features if f.status == "missing")
    if missing:
        log.info("images not usable", extra={"batch": len(events), "reasons": dict(missing)})
    return [*refused, *(Emit(Stream.IMAGE_FEATURES, f) for f in features)]


async def open_deps(settings: Settings, redis: Redis, backend: InferenceBackend | None = None) -> Deps:
    runtime = backend or create_backend(settings)
    store = ModelStore(settings.model_repository, runtime, ("image",), settings.model_poll_interval_s)
    await warm_up(store)
    return Deps(
        ImageSettings.of(settings),
        RedisVersionPins(redis, settings),
        http_client(settings),
        runtime,
        store,
        settings.max_clock_skew_s,
        owns_backend=backend is None,
    )


async def model_ready(deps: Deps) -> None:
    """Ready once a model revision is served (``current`` raises until then)."""
    await deps.store.current()


async def close_deps(deps: Deps) -> None:
    await deps.http.aclose()
    if deps.owns_backend:
        await deps.backend.close()


SPEC = WorkerSpec(
    name="image-encoder",
    consumes=(Consumer(Stream.SUBMITTED, ListingSubmitted, encode),),
    publishes=(Stream.IMAGE_FEATURES,),
    open=open_deps,
    close=close_deps,
    ready=model_ready,
    image="inference",
    description="Fetches and decodes each offer's photo and runs every image model of the pinned version.",
)


def create_worker(settings: Settings, backend: InferenceBackend | None = None) -> WorkerApp:
    """A worker encoding offer images in batches of ``settings.batch_size``."""

    async def opener(s: Settings, redis: Redis) -> Deps:
        return await open_deps(s, redis, backend)

    return WorkerApp.from_spec(SPEC, settings, open_deps=opener)
