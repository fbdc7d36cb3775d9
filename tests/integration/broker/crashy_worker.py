"""A test worker with controllable failures, runnable as a process:
``python -m tests.integration.broker.crashy_worker`` (settings from CATALOG_* env vars).

- title "hang-first-time": the first delivery hangs (the test SIGKILLs the process there);
  later deliveries complete.
- title "always-fail": raises on every delivery.
- anything else: completes.
Every completion is recorded (RPUSH completions) and emitted to listings.prepared.
"""

from __future__ import annotations

import asyncio

from shared.broker import Emit, WorkerApp
from shared.config import Settings
from shared.contract import Language, ListingPrepared, ListingSubmitted, Stream, Translation


def create_worker(settings: Settings) -> WorkerApp:
    worker = WorkerApp("crashy", settings)

    @worker.consume(Stream.SUBMITTED, ListingSubmitted, batch=True)
    async def handle(events: list[ListingSubmitted]) -> list[Emit]:
        outcomes = []
        for event in events:
            sid = str(event.submission_id)
            if event.title == "always-fail":
                raise RuntimeError(f"cannot handle {event.listing_id}")
            if event.title == "hang-first-time":
                first = await worker.redis.set(settings.key(f"started:{sid}"), 1, nx=True)
                if first:
                    await worker.redis.rpush(settings.key("hanging"), sid)
                    await asyncio.sleep(3600)
            await worker.redis.rpush(settings.key("completions"), sid)
            prepared = ListingPrepared(
                **event.envelope(),
                title=event.title,
                text=event.title,
                text_fr=event.title,
                language=Language(code="fr", confidence=1.0),
                translation=Translation(status="not_needed"),
            ).stamped("prepared")
            outcomes.append(Emit(Stream.PREPARED, prepared))
        return outcomes

    return worker


if __name__ == "__main__":
    asyncio.run(create_worker(Settings()).run())
