"""The text-encoder worker: ``listings.prepared`` -> ``features.text`` (``catalog worker text-encoder``).

Per batch: one Redis round trip to pin each submission's model version (shared with the
image-encoder), then one inference request per text model and version.
"""

from __future__ import annotations

from shared.broker import Emit, Reject, WorkerApp
from shared.config import Settings
from shared.contract import ListingPrepared, Stream
from shared.inference.backend import InferenceBackend, create_backend
from shared.inference.encoders import encode_texts
from shared.inference.pinning import pin_versions
from shared.inference.store import ModelStore, warm_up


def create_worker(settings: Settings, backend: InferenceBackend | None = None) -> WorkerApp:
    """A worker encoding prepared text in batches of ``settings.batch_size``."""
    worker = WorkerApp("text-encoder", settings)
    runtime = backend or create_backend(settings)
    store = ModelStore(
        settings.model_repository,
        runtime,
        ("text",),
        settings.model_poll_interval_s,
        translated=settings.translator != "none",
    )

    @worker.on_startup
    async def load() -> None:
        await warm_up(store)

    @worker.on_shutdown
    async def close() -> None:
        if backend is None:
            await runtime.close()

    @worker.consume(Stream.PREPARED, ListingPrepared, batch=True)
    async def encode(events: list[ListingPrepared]) -> list[Emit | Reject]:
        """Tokenizes the French text and runs every text model of the pinned version."""
        current = await store.current()
        ids = [e.submission_id for e in events]
        versions = await pin_versions(worker.redis, settings, ids, current.version)
        features = await encode_texts(
            runtime,
            store,
            events,
            [e.text_fr or e.text for e in events],
            versions,
            languages=[e.language.code for e in events],
            translations=[e.translation.status for e in events],
        )
        return [Emit(Stream.TEXT_FEATURES, f) for f in features]

    return worker
