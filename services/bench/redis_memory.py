"""``catalog bench redis-memory``: Redis bytes per pending entry of each pipeline stream and per
submission waiting in the fusion join, for the capacity plan (docs/capacity.md).

Real events of a synthetic catalog (training.synth: titles and descriptions of the challenge's
length) go through the real publisher into streams under a private prefix of the configured
Redis; ``MEMORY USAGE`` of each stream and ``INFO memory`` before and after give the bytes per
entry; text halves go through the real join script for the join state. Everything is deleted
after.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from services.bench.pipeline import offers_at
from services.bench.seed import prediction_event
from services.fusion.join import deadlines_key, join_batch, join_key
from shared.broker import EventPublisher
from shared.categories import reference_categories
from shared.config import Settings
from shared.contract import (
    ImageFeatures,
    Language,
    ListingPrepared,
    ListingSubmitted,
    ModelOutput,
    Origin,
    Stream,
    TextFeatures,
    Translation,
    utcnow,
)
from shared.inference.pinning import pin_key

LABELS = len(reference_categories())


def _events(offers: list[ListingSubmitted]) -> dict[Stream, list[Any]]:
    """One event per offer on each stream, as the workers would publish them (one text and one
    image model, one logit per reference label: the default profile)."""
    logits = [round(0.1 * i - 1.3, 6) for i in range(LABELS)]
    out: dict[Stream, list[Any]] = {s: [] for s in Stream if s is not Stream.DEAD}
    codes = [c.prdtypecode for c in reference_categories()]
    for i, offer in enumerate(offers):
        ids = {"submission_id": offer.submission_id, "listing_id": offer.listing_id}
        text = f"{offer.title} {offer.description or ''}".strip()
        out[Stream.SUBMITTED].append(offer)
        out[Stream.PREPARED].append(
            ListingPrepared(
                **ids,
                title=offer.title,
                description=offer.description,
                image_uri=offer.image_uri,
                text=text,
                text_fr=text,
                language=Language(code="fr", confidence=0.99),
                translation=Translation(status="not_needed"),
            )
        )
        out[Stream.TEXT_FEATURES].append(
            TextFeatures(**ids, model_version="r1", outputs=[ModelOutput(model="text_minilm", logits=logits)])
        )
        out[Stream.IMAGE_FEATURES].append(
            ImageFeatures(
                **ids,
                model_version="r1",
                outputs=[ModelOutput(model="image_efficientnet_lite0", logits=logits)],
            )
        )
        out[Stream.CLASSIFIED].append(
            prediction_event(
                offer.listing_id,
                codes[i % len(codes)],
                0.8,
                model_version="r1",
                submitted_at=utcnow(),
                latency_s=1.0,
                origin=Origin(kind="ingest"),
                submission_id=offer.submission_id,
                decision="auto",
            )
        )
    return out


async def _measure(settings: Settings, offers: list[ListingSubmitted]) -> dict[str, Any]:
    redis = Redis.from_url(settings.redis_url or "redis://127.0.0.1:6379/0")
    events = _events(offers)
    n = len(offers)
    per_stream: dict[str, Any] = {}
    keys: list[str] = []
    try:
        async with EventPublisher(settings) as publisher:
            for stream, batch in events.items():
                before = int((await redis.info("memory"))["used_memory"])
                for start in range(0, n, 500):
                    await publisher.publish(stream, batch[start : start + 500])
                after = int((await redis.info("memory"))["used_memory"])
                key = settings.key(stream)
                keys.append(key)
                usage = int(await redis.memory_usage(key, samples=0) or 0)
                payload = sum(len(e.model_dump_json()) for e in batch) / n
                per_stream[str(stream)] = {
                    "entries": int(await redis.xlen(key)),
                    "memory_usage_bytes_per_entry": round(usage / n, 1),
                    "used_memory_delta_bytes_per_entry": round((after - before) / n, 1),
                    "json_payload_bytes_per_entry": round(payload, 1),
                }
        before = int((await redis.info("memory"))["used_memory"])
        halves = events[Stream.TEXT_FEATURES]
        for start in range(0, n, 500):
            await join_batch(redis, settings, halves[start : start + 500])
        after = int((await redis.info("memory"))["used_memory"])
        sample = [join_key(settings, h.submission_id) for h in halves[:200]]
        join_bytes = sum([int(await redis.memory_usage(k, samples=0) or 0) for k in sample]) / len(sample)
        keys += [join_key(settings, h.submission_id) for h in halves] + [deadlines_key(settings)]
        keys += [pin_key(settings, h.submission_id) for h in halves]
        deadlines = int(await redis.memory_usage(deadlines_key(settings), samples=0) or 0)
        join = {
            "waiting_submissions": n,
            "join_hash_bytes_each": round(join_bytes, 1),
            "deadline_zset_bytes_each": round(deadlines / n, 1),
            "used_memory_delta_bytes_each": round((after - before) / n, 1),
        }
        server = await redis.info("server")
    finally:
        for start in range(0, len(keys), 1000):
            await redis.delete(*keys[start : start + 1000])
        await redis.aclose()
    return {"streams": per_stream, "fusion_join": join, "redis_version": server.get("redis_version")}


def run_redis_memory(settings: Settings, n: int) -> dict[str, Any]:
    """Publish ``n`` offers' events on every stream under a private prefix and measure them."""
    private = settings.model_copy(
        update={"stream_prefix": f"{settings.stream_prefix}bench-mem-{uuid.uuid4().hex[:8]}:"}
    )
    with tempfile.TemporaryDirectory() as folder, offers_at(None, n, Path(folder)) as (_, offers):
        pass
    result = asyncio.run(_measure(private, offers))
    return {
        "benchmark": "Redis bytes per pending entry (catalog bench redis-memory)",
        "offers": n,
        "offer_text_chars_mean": round(sum(len(o.title) + len(o.description or "") for o in offers) / n, 1),
        **result,
        "measured_at": utcnow().isoformat(),
    }
