"""Stream trimming that never drops unread work (``CATALOG_STREAM_TRIM``, on by default).

An entry may go once every consumer group that reads its stream has acknowledged it: each
worker periodically runs ``XTRIM MINID`` with the oldest entry any group still has pending or
has not been delivered yet. Groups that should exist but do not yet (a worker kind never
started) block trimming, because a new group starts from the stream's beginning.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.config import Settings


def _id(value: Any) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else str(value)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def groups_key(settings: Settings, key: str) -> str:
    """The set of consumer groups that must have acknowledged an entry before it is trimmed."""
    return settings.key(f"groups:{key}")


async def trim_floor(redis: Redis, key: str, required: set[str]) -> str | None:
    """The oldest entry of ``key`` some group still needs (pending, or not yet delivered).

    None (trim nothing) when a group in ``required`` does not exist yet: its future consumer
    would start from the stream's beginning and must find every entry there.
    """
    try:
        groups = await redis.xinfo_groups(key)
    except ResponseError:
        return None
    names = {g["name"].decode() if isinstance(g["name"], bytes) else g["name"] for g in groups}
    if not groups or not required <= names:
        return None
    floor: tuple[int, int] | None = None
    for group in groups:
        summary = await redis.xpending(key, group["name"])
        if summary["pending"]:
            needed = _id(summary["min"])
        else:  # everything delivered is acknowledged: the next entry is the first one needed
            ms, seq = _id(group["last-delivered-id"])
            needed = (ms, seq + 1)
        floor = needed if floor is None else min(floor, needed)
    return None if floor is None else f"{floor[0]}-{floor[1]}"


async def trim_acknowledged(redis: Redis, key: str, required: set[str]) -> int:
    """Delete the entries of ``key`` every group has acknowledged (XTRIM MINID); never unread ones."""
    floor = await trim_floor(redis, key, required)
    if floor is None:
        return 0
    return int(await redis.xtrim(key, minid=floor, approximate=False))
