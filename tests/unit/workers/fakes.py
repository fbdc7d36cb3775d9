"""In-memory adapters for the handlers' Redis-backed dependencies (unit tests only).

They follow the same contract as the Redis ones (``RedisVersionPins``, ``RedisJoiner``), whose
own behaviour is tested against a real Redis in tests/integration.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from services.fusion.join import Half, JoinResult
from shared.contract import ImageFeatures, TextFeatures


class MemoryPins:
    """First pin wins, like ``SET NX``."""

    def __init__(self) -> None:
        self.pins: dict[UUID, str] = {}

    async def pin(self, submission_ids: Sequence[UUID], version: str) -> list[str]:
        return [self.pins.setdefault(sid, version) for sid in submission_ids]


class MemoryJoiner:
    """Halves by submission; a second half of the other kind completes, a repeat is a duplicate."""

    def __init__(self) -> None:
        self.halves: dict[UUID, dict[str, Half]] = {}
        self.done: set[UUID] = set()

    async def join(self, halves: list[Half]) -> list[JoinResult]:
        results = []
        for half in halves:
            kind = "text" if isinstance(half, TextFeatures) else "image"
            slot = self.halves.setdefault(half.submission_id, {})
            if half.submission_id in self.done or kind in slot:
                results.append(JoinResult("duplicate"))
                continue
            slot[kind] = half
            if len(slot) == 2:
                self.done.add(half.submission_id)
                text, image = slot["text"], slot["image"]
                assert isinstance(text, TextFeatures) and isinstance(image, ImageFeatures)
                results.append(JoinResult("complete", text, image))
            else:
                results.append(JoinResult("waiting"))
        return results
