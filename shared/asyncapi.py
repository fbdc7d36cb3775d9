"""The AsyncAPI document of the stream contract, generated from the pydantic events."""

from __future__ import annotations

import json
from typing import Any

from faststream.redis import RedisBroker, StreamSub
from faststream.specification import AsyncAPI

from shared.contract import CONSUMERS, EVENT_OF_STREAM, SCHEMA_VERSION, Stream

DESCRIPTION = (
    "Catalog ingestion and classification over Redis Streams. Every event carries "
    "submission_id (idempotency key), listing_id, origin and per-stage timestamps. "
    "Consumers use one consumer group per worker kind; failed messages are retried by a "
    "reclaimer and dead-lettered to listings.dead after N deliveries."
)


def build_document(prefix: str = "") -> dict[str, Any]:
    """AsyncAPI 3.0 document: one channel per stream with its payload schema and consumers."""
    broker = RedisBroker("redis://localhost:6379")
    for stream, model in EVENT_OF_STREAM.items():
        doc = (model.__doc__ or "").strip().splitlines()[0]
        broker.publisher(stream=f"{prefix}{stream}", schema=model, title=f"{stream}:publish", description=doc)
    for worker, streams in CONSUMERS.items():
        for stream in streams:
            _declare_consumer(broker, worker, stream, prefix)
    spec = AsyncAPI(broker, title="catalog", version=f"contract-{SCHEMA_VERSION}", description=DESCRIPTION)
    return json.loads(spec.to_specification().to_json())


def _declare_consumer(broker: RedisBroker, worker: str, stream: Stream, prefix: str) -> None:
    model = EVENT_OF_STREAM[stream]
    sub = StreamSub(f"{prefix}{stream}", group=worker, consumer=f"{worker}-<host>-<pid>")

    async def consume(event: model) -> None:  # type: ignore[valid-type]
        """Documentation only: the worker's handler lives in services/."""

    broker.subscriber(
        stream=sub,
        title=f"{stream}:{worker}",
        description=f"Consumer group `{worker}` reads {stream}.",
    )(consume)
