"""The fusion join: text and image halves of a submission meet in Redis (atomic, with a TTL).

One Lua script call per batch, joining its halves in order. State: a hash per submission
(``join:<submission_id>``) with each half's payload and, once complete, ``done`` = which half
completed it and that message's digest. Idempotency under redelivery:

- the completing message delivered again (its first processing crashed before publishing, or
  published but did not ack) completes again: the classification is (re)produced;
- any other second arrival of a half (a duplicate published by a re-run encoder) after
  completion is a ``duplicate``: no second classification;
- halves may arrive in any order; the first copy of a half is the one kept;
- a completed join is kept ``join_done_ttl_s`` (not ``join_ttl_s``) and the submission's
  version pin is deleted, so Redis holds little per classified offer;
- a waiting half is entered in a sorted set of deadlines (``join:deadlines``, score: when
  ``join_ttl_s`` runs out); ``expiry.py`` classifies a half still alone past its deadline on the
  modality present (flagged degraded), or dead-letters it. Its partner arriving later is
  ``late`` (logged, no second classification). A completing half redelivered after
  ``join_done_ttl_s`` finds no state, waits again and ends the same way, never forever (the
  writer keeps one prediction per submission);
- a **re-publication** by the reconciler (it found no stored prediction: the classified event
  was lost after fusion, or a half was) carries a newer ``republished`` stamp, its
  *generation*: a half of a newer generation starts the join over (the done-marker of the
  earlier one no longer answers ``duplicate``), so the re-published offer is classified again;
  a half of an older generation than the join holds is a ``duplicate``. Redeliveries within one
  generation are suppressed as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, Protocol

from redis.asyncio import Redis

from shared.config import Settings
from shared.contract import ImageFeatures, TextFeatures
from shared.inference.pinning import pin_key

JOIN_GRACE_S = 3600
"""A waiting half outlives its deadline by this much, so the expiry sweep still finds it."""

JOIN_LUA = """
local deadlines = KEYS[1]
local ttl, done_ttl, deadline = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])

local function join(key, pin, half, payload, member, generation)
  local digest = redis.sha1hex(payload)
  local other = (half == 'text') and 'image' or 'text'
  local held = tonumber(redis.call('HGET', key, 'generation') or '0')
  local restarted = false
  if generation > held then
    redis.call('DEL', key)
    redis.call('HSET', key, 'generation', generation)
    restarted = true
  elseif generation < held then
    return {'duplicate'}
  end
  local done = redis.call('HGET', key, 'done')
  if done then
    if done == half .. ':' .. digest then
      return {'complete', redis.call('HGET', key, 'text'), redis.call('HGET', key, 'image')}
    end
    if string.sub(done, 1, 8) == 'expired:' then
      return {'late'}
    end
    return {'duplicate'}
  end
  redis.call('HSETNX', key, half, payload)
  if redis.call('HEXISTS', key, other) == 1 then
    redis.call('HSET', key, 'done', half .. ':' .. digest)
    redis.call('EXPIRE', key, done_ttl)
    redis.call('DEL', pin)
    redis.call('ZREM', deadlines, member)
    return {'complete', redis.call('HGET', key, 'text'), redis.call('HGET', key, 'image')}
  end
  redis.call('EXPIRE', key, ttl)
  if restarted then
    redis.call('ZADD', deadlines, deadline, member)
  else
    redis.call('ZADD', deadlines, 'NX', deadline, member)
  end
  return {'waiting'}
end

local results = {}
for i = 1, (#ARGV - 3) / 4 do
  local a = 3 + 4 * (i - 1)
  local half, payload, member, generation = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4])
  results[i] = join(KEYS[2 * i], KEYS[2 * i + 1], half, payload, member, generation)
end
return results
"""
"""One call joins a whole batch, half after half in order (as many calls in a row would):
``KEYS`` = the deadlines set, then each half's join hash and version pin; ``ARGV`` = the TTLs and
the deadline, then per half its kind, payload, submission id and generation. The digest that
marks the completing message is the payload's SHA-1, computed here (issue 27: one command per
batch instead of one per half, and half the arguments to encode)."""


Half = TextFeatures | ImageFeatures


@dataclass(frozen=True)
class JoinResult:
    status: Literal["waiting", "complete", "duplicate", "late"]
    text: TextFeatures | None = None
    image: ImageFeatures | None = None


def generation(event: Half) -> int:
    """Which publication of its submission a half comes from: 0 for the first, the reconciler's
    ``republished`` stamp (epoch ms) for a re-publication."""
    stamp = event.timestamps.get("republished")
    return int(stamp.timestamp() * 1000) if stamp is not None else 0


def join_key(settings: Settings, submission_id: object) -> str:
    return settings.key(f"join:{submission_id}")


def deadlines_key(settings: Settings) -> str:
    return settings.key("join:deadlines")


async def join_batch(redis: Redis, settings: Settings, halves: list[Half]) -> list[JoinResult]:
    """Record each half; return, per half, whether its submission is now complete."""
    if not halves:
        return []
    keys: list[str] = [deadlines_key(settings)]
    args: list[str | int | float] = [
        settings.join_ttl_s + JOIN_GRACE_S,
        settings.join_done_ttl_s,
        time.time() + settings.join_ttl_s,
    ]
    for event in halves:
        sid = str(event.submission_id)
        keys += (join_key(settings, sid), pin_key(settings, event.submission_id))
        kind = "text" if isinstance(event, TextFeatures) else "image"
        args += (kind, event.model_dump_json(), sid, generation(event))
    replies = await redis.register_script(JOIN_LUA)(keys=keys, args=args)
    return [_result(reply) for reply in replies]


def _result(reply: list[bytes | str]) -> JoinResult:
    status = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
    if status == "complete":
        return JoinResult(
            "complete",
            TextFeatures.model_validate_json(reply[1]),
            ImageFeatures.model_validate_json(reply[2]),
        )
    return JoinResult("late" if status == "late" else "duplicate" if status == "duplicate" else "waiting")


class Joiner(Protocol):
    """Where fusion records halves until both have arrived (a handler dependency)."""

    async def join(self, halves: list[Half]) -> list[JoinResult]: ...


class RedisJoiner:
    """:func:`join_batch` on the worker's Redis: the production :class:`Joiner`."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis, self.settings = redis, settings

    async def join(self, halves: list[Half]) -> list[JoinResult]:
        return await join_batch(self.redis, self.settings, halves)
