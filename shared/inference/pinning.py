"""One model version per submission, shared by both encoders (no mixed-version prediction).

The first encoder to handle a submission pins the version it would use (``SET NX``); the other
encoder reads the pin and uses the same revision even if a newer one went live in between.
One Redis round trip per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from redis.asyncio import Redis

from shared.config import Settings


def pin_key(settings: Settings, submission_id: UUID) -> str:
    return settings.key(f"model_pin:{submission_id}")


async def pin_versions(
    redis: Redis, settings: Settings, submission_ids: Sequence[UUID], version: str
) -> list[str]:
    """The pinned version of each submission, pinning ``version`` where none is set yet."""
    if not submission_ids:
        return []
    pipe = redis.pipeline(transaction=False)
    for sid in submission_ids:
        pipe.set(pin_key(settings, sid), version, nx=True, ex=settings.join_ttl_s)
    for sid in submission_ids:
        pipe.get(pin_key(settings, sid))
    results = await pipe.execute()
    pinned = results[len(submission_ids) :]
    return [v.decode() if isinstance(v, bytes) else (v or version) for v in pinned]


class VersionPins(Protocol):
    """Where the encoders agree on one model version per submission (a handler dependency)."""

    async def pin(self, submission_ids: Sequence[UUID], version: str) -> list[str]: ...


class RedisVersionPins:
    """:func:`pin_versions` on the worker's Redis: the production :class:`VersionPins`."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis, self.settings = redis, settings

    async def pin(self, submission_ids: Sequence[UUID], version: str) -> list[str]:
        return await pin_versions(self.redis, self.settings, submission_ids, version)
