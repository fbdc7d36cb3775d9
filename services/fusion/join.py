"""The fusion join: text and image halves of a submission meet in Redis (atomic, with a TTL).

One Lua script per arriving half, all of a batch in one pipeline. State: a hash per submission
(``join:<submission_id>``) with each half's payload and, once complete, ``done`` = which half
completed it and that message's digest. Idempotency under redelivery:

- the completing message delivered again (its first processing crashed before publishing, or
  published but did not ack) completes again: the classification is (re)produced;
- any other second arrival of a half (a duplicate published by a re-run encoder) after
  completion is a ``duplicate``: no second classification;
- halves may arrive in any order; the first copy of a half is the one kept;
- a completed join is kept ``join_done_ttl_s`` (not ``join_ttl_s``) and the submission's
  version pin is deleted, so Redis holds little per classified offer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, Protocol

from redis.asyncio import Redis

from shared.config import Settings
from shared.contract import ImageFeatures, TextFeatures
from shared.inference.pinning import pin_key

JOIN_LUA = """
local key, pin, half, payload, digest = KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]
local ttl, done_ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local other = (half == 'text') and 'image' or 'text'
local done = redis.call('HGET', key, 'done')
if done then
  if done == half .. ':' .. digest then
    return {'complete', redis.call('HGET', key, 'text'), redis.call('HGET', key, 'image')}
  end
  return {'duplicate'}
end
redis.call('HSETNX', key, half, payload)
if redis.call('HEXISTS', key, other) == 1 then
  redis.call('HSET', key, 'done', half .. ':' .. digest)
  redis.call('EXPIRE', key, done_ttl)
  redis.call('DEL', pin)
  return {'complete', redis.call('HGET', key, 'text'), redis.call('HGET', key, 'image')}
end
redis.call('EXPIRE', key, ttl)
return {'waiting'}
"""

Half = TextFeatures | ImageFeatures


@dataclass(frozen=True)
class JoinResult:
    status: Literal["waiting", "complete", "duplicate"]
    text: TextFeatures | None = None
    image: ImageFeatures | None = None


def digest(payload: str) -> str:
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()


def join_key(settings: Settings, submission_id: object) -> str:
    return settings.key(f"join:{submission_id}")


async def join_batch(redis: Redis, settings: Settings, halves: list[Half]) -> list[JoinResult]:
    """Record each half; return, per half, whether its submission is now complete."""
    if not halves:
        return []
    script = redis.register_script(JOIN_LUA)
    pipe = redis.pipeline(transaction=False)
    for event in halves:
        kind = "text" if isinstance(event, TextFeatures) else "image"
        payload = event.model_dump_json()
        await script(
            keys=[join_key(settings, event.submission_id), pin_key(settings, event.submission_id)],
            args=[kind, payload, digest(payload), settings.join_ttl_s, settings.join_done_ttl_s],
            client=pipe,
        )
    replies = await pipe.execute()
    results: list[JoinResult] = []
    for reply in replies:
        status = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
        if status == "complete":
            results.append(
                JoinResult(
                    "complete",
                    TextFeatures.model_validate_json(reply[1]),
                    ImageFeatures.model_validate_json(reply[2]),
                )
            )
        else:
            results.append(JoinResult("duplicate" if status == "duplicate" else "waiting"))
    return results


class Joiner(Protocol):
    """Where fusion records halves until both have arrived (a handler dependency)."""

    async def join(self, halves: list[Half]) -> list[JoinResult]: ...


class RedisJoiner:
    """:func:`join_batch` on the worker's Redis: the production :class:`Joiner`."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis, self.settings = redis, settings

    async def join(self, halves: list[Half]) -> list[JoinResult]:
        return await join_batch(self.redis, self.settings, halves)
