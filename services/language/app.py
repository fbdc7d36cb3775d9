"""The language worker: ``listings.submitted`` -> ``listings.prepared`` (``catalog worker language``).

The handler only translates events to :class:`Preparer` calls; all logic lives in ``logic.py``.
"""

from __future__ import annotations

from shared.broker import Emit, Reject, WorkerApp
from shared.config import Settings
from shared.contract import ListingSubmitted, Stream

from .logic import Preparer


def create_worker(settings: Settings) -> WorkerApp:
    """A worker that prepares submitted offers in batches of ``settings.batch_size``."""
    worker = WorkerApp("language", settings)
    state: dict[str, Preparer] = {}

    @worker.on_startup
    async def load() -> None:
        # The worker's Redis client backs the translation cache (keys under the prefix).
        state["preparer"] = Preparer.from_settings(settings, worker.redis)

    @worker.on_shutdown
    async def close() -> None:
        preparer = state.pop("preparer", None)
        if preparer is not None:
            preparer.close()

    @worker.consume(Stream.SUBMITTED, ListingSubmitted, batch=True)
    async def prepare(events: list[ListingSubmitted]) -> list[Emit | Reject]:
        """Cleans, detects the language and translates non-French offers to French."""
        prepared = await state["preparer"].prepare(events)
        return [Emit(Stream.PREPARED, event) for event in prepared]

    return worker
