"""The image-encoder worker: ``listings.submitted`` -> ``features.image`` (``catalog worker image-encoder``).

Runs beside the language worker (its own consumer group on the same stream). Per batch: images
fetched concurrently under the size/pixel/time limits, one Redis round trip to pin versions, one
inference request per image model and version. An unusable image gives a ``missing`` event with
its reason, so fusion still classifies the offer from its text.
"""

from __future__ import annotations

import logging
from collections import Counter

import httpx

from shared.broker import Emit, Reject, WorkerApp
from shared.config import Settings
from shared.contract import ListingSubmitted, Stream
from shared.inference.backend import InferenceBackend, create_backend
from shared.inference.encoders import encode_images
from shared.inference.images import http_client, load_images
from shared.inference.pinning import pin_versions
from shared.inference.store import ModelStore, warm_up

log = logging.getLogger(__name__)


def create_worker(settings: Settings, backend: InferenceBackend | None = None) -> WorkerApp:
    """A worker encoding offer images in batches of ``settings.batch_size``."""
    worker = WorkerApp("image-encoder", settings)
    runtime = backend or create_backend(settings)
    store = ModelStore(settings.model_repository, runtime, ("image",), settings.model_poll_interval_s)
    clients: dict[str, httpx.AsyncClient] = {}

    @worker.on_startup
    async def load() -> None:
        clients["http"] = http_client(settings)
        await warm_up(store)

    @worker.on_shutdown
    async def close() -> None:
        client = clients.pop("http", None)
        if client is not None:
            await client.aclose()
        if backend is None:
            await runtime.close()

    @worker.consume(Stream.SUBMITTED, ListingSubmitted, batch=True)
    async def encode(events: list[ListingSubmitted]) -> list[Emit | Reject]:
        """Loads, decodes and resizes each image, then runs every image model of the pinned version."""
        images = await load_images([e.image_uri for e in events], settings, clients["http"])
        current = await store.current()
        ids = [e.submission_id for e in events]
        versions = await pin_versions(worker.redis, settings, ids, current.version)
        features = await encode_images(runtime, store, events, images, versions)
        missing = Counter(f.reason for f in features if f.status == "missing")
        if missing:
            log.info("images not usable", extra={"batch": len(events), "reasons": dict(missing)})
        return [Emit(Stream.IMAGE_FEATURES, f) for f in features]

    return worker
