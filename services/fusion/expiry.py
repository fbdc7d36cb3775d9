"""Joins whose other half never came: classified on the modality present, or dead-lettered.

Without this, a half whose partner was lost (an encoder's dead letter, a publish lost with Redis,
a redelivery after the join state expired) waited in Redis until its TTL and the offer was never
classified, with nothing logged. The fusion worker sweeps ``join:deadlines`` periodically:

- a due half is claimed atomically (``done = expired:<half>``, so a late partner is ``late``) and
  its deadline pushed forward by a lease: if the worker dies before publishing, the next sweep
  claims it again (the writer keeps one prediction per submission);
- a half with logits is classified alone, the prediction flagged ``degraded=join_expired:<missing>``;
- a half without anything usable (e.g. an image half whose image was missing), or join state
  that expired before the sweep, is dead-lettered with reason ``join_expired``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from uuid import UUID

from redis.asyncio import Redis

from shared.config import Settings
from shared.contract import DeadLetter, ImageFeatures, ListingClassified, Stream, TextFeatures

from .classify import Pair, classify_pairs
from .join import deadlines_key, join_key

log = logging.getLogger(__name__)
LEASE_S = 60

EXPIRE_LUA = """
local key, pin, deadlines = KEYS[1], KEYS[2], KEYS[3]
local member, lease_until, done_ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local done = redis.call('HGET', key, 'done')
if done and string.sub(done, 1, 8) ~= 'expired:' then
  redis.call('ZREM', deadlines, member)
  return {'complete'}
end
if redis.call('EXISTS', key) == 0 then
  return {'gone'}
end
local text = redis.call('HGET', key, 'text')
local image = redis.call('HGET', key, 'image')
if not done then
  redis.call('HSET', key, 'done', 'expired:' .. (text and 'text' or 'image'))
end
redis.call('EXPIRE', key, done_ttl)
redis.call('DEL', pin)
redis.call('ZADD', deadlines, lease_until, member)
return {'expired', text or '', image or ''}
"""


@dataclass(frozen=True)
class Expired:
    """One submission whose join expired: its present half (or none, when the state is gone)."""

    submission_id: str
    text: TextFeatures | None
    image: ImageFeatures | None


async def claim_expired(
    redis: Redis, settings: Settings, now: float | None = None, limit: int = 100
) -> list[Expired]:
    """Claim up to ``limit`` halves past their deadline (leased: release them with ``release``)."""
    at = time.time() if now is None else now
    zkey = deadlines_key(settings)
    members = await redis.zrangebyscore(zkey, "-inf", at, start=0, num=limit)
    if not members:
        return []
    from shared.inference.pinning import pin_key

    script = redis.register_script(EXPIRE_LUA)
    claimed: list[Expired] = []
    for raw in members:
        sid = raw.decode() if isinstance(raw, bytes) else str(raw)
        reply = await script(
            keys=[join_key(settings, sid), pin_key(settings, UUID(sid)), zkey],
            args=[sid, at + LEASE_S, settings.join_done_ttl_s],
        )
        status = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
        if status == "complete":
            continue
        if status == "gone":
            claimed.append(Expired(sid, None, None))
            continue
        text = TextFeatures.model_validate_json(reply[1]) if reply[1] else None
        image = ImageFeatures.model_validate_json(reply[2]) if reply[2] else None
        claimed.append(Expired(sid, text, image))
    return claimed


async def release(redis: Redis, settings: Settings, submission_ids: list[str]) -> None:
    """Forget handled deadlines (after their prediction or dead letter is published)."""
    if submission_ids:
        await redis.zrem(deadlines_key(settings), *submission_ids)


def _usable(expired: Expired) -> bool:
    half = expired.text or expired.image
    return half is not None and half.status == "ok" and bool(half.outputs)


async def resolve(
    expired: list[Expired], store: object, settings: Settings, worker: str
) -> tuple[list[ListingClassified], list[DeadLetter]]:
    """A degraded prediction per usable half, a ``join_expired`` dead letter for the rest."""
    usable = [e for e in expired if _usable(e)]
    results = await classify_pairs(store, [Pair(e.text, e.image) for e in usable], settings.top_k)  # type: ignore[arg-type]
    predictions: list[ListingClassified] = []
    letters: list[DeadLetter] = []
    for item, result in zip(usable, results, strict=True):
        missing = "image" if item.text is not None else "text"
        if isinstance(result, ListingClassified):
            predictions.append(result.model_copy(update={"degraded": f"join_expired:{missing}"}))
        else:
            letters.append(_letter(item, worker, f"classification of the lone half failed: {result.reason}"))
    for item in expired:
        if _usable(item):
            continue
        if item.text is None and item.image is None:
            why = "the join state expired before the sweep: neither half is left"
        else:
            present = "text" if item.text is not None else "image"
            why = f"only the {present} half arrived within join_ttl_s and it has nothing to classify"
        letters.append(_letter(item, worker, why))
    return predictions, letters


def _letter(item: Expired, worker: str, error: str) -> DeadLetter:
    half = item.text or item.image
    stream = Stream.TEXT_FEATURES if item.text is not None else Stream.IMAGE_FEATURES
    payload = half.model_dump_json() if half is not None else f'{{"submission_id": "{item.submission_id}"}}'
    log.warning("join expired", extra={"submission_id": item.submission_id, "error": error})
    return DeadLetter(
        stream=str(stream),
        lane=half.lane if half is not None else "live",
        worker=worker,
        reason="join_expired",
        error=error,
        attempts=1,
        payload=payload,
    )
