"""Defect 6: a half alone past its deadline is classified on its own (flagged degraded) or
dead-lettered with the reason; nothing waits in the join forever (real Redis, tiny models)."""

from __future__ import annotations

import time
from pathlib import Path
from uuid import uuid4

from redis.asyncio import Redis

from services.fusion import worker as fusion
from services.fusion.expiry import claim_expired
from services.fusion.join import deadlines_key, join_batch, join_key
from shared.broker import EventPublisher, read_events
from shared.config import Settings
from shared.contract import (
    DeadLetter,
    ImageFeatures,
    ListingClassified,
    ModelOutput,
    Stream,
    TextFeatures,
)
from shared.inference.store import ModelStore
from shared.ml.model_repo import Manifest
from tests.conftest import REDIS_URL
from tests.unit.inference.repo_fixture import build_repository


def text_half(manifest: Manifest, listing: str) -> TextFeatures:
    outputs = [ModelOutput(model=m.name, logits=[0.1] * len(manifest.labels)) for m in manifest.text_models]
    return TextFeatures(
        submission_id=uuid4(), listing_id=listing, model_version=manifest.version, outputs=outputs
    )


def missing_image(manifest: Manifest, listing: str, submission_id: object = None) -> ImageFeatures:
    return ImageFeatures(
        submission_id=submission_id or uuid4(),  # type: ignore[arg-type]
        listing_id=listing,
        model_version=manifest.version,
        status="missing",
        reason="not_found",
    )


def expiring(redis_prefix: str, root: Path) -> Settings:
    """Joins that expire after 1 s, on a tiny repository at ``root``."""
    return Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        join_ttl_s=1,
        join_done_ttl_s=5,
        model_repository=root,
    )


async def test_lone_halves_are_classified_degraded_or_dead_lettered(
    redis_prefix: str, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    manifest = build_repository(root)
    settings = expiring(redis_prefix, root)
    redis = Redis.from_url(REDIS_URL)
    store = ModelStore(root, poll_interval_s=0)
    store.fusion(await store.current())
    try:
        alone_text = text_half(manifest, "T1")  # its image half was lost
        alone_image = missing_image(manifest, "I1")  # its text half was lost; nothing usable
        waiting = await join_batch(redis, settings, [alone_text, alone_image])
        assert [r.status for r in waiting] == ["waiting", "waiting"]
        assert await claim_expired(redis, settings) == []  # not due yet

        async with EventPublisher(settings) as publisher:
            # Past the deadline: what the worker's periodic sweep does.
            claimed = await claim_expired(redis, settings, now=time.time() + 5)
            assert {c.submission_id for c in claimed} == {
                str(alone_text.submission_id),
                str(alone_image.submission_id),
            }
            # A crash before publishing: the lease runs out and the next sweep claims them again.
            again = await claim_expired(redis, settings, now=time.time() + 5 + 120)
            assert len(again) == 2
            await redis.zadd(deadlines_key(settings), {c.submission_id: 0 for c in again})
            assert await fusion.sweep_expired(store, redis, publisher, settings) == 2

        classified = await read_events(settings, Stream.CLASSIFIED, ListingClassified, 1, timeout_s=5)
        dead = await read_events(settings, Stream.DEAD, DeadLetter, 1, timeout_s=5)
        assert [(c.listing_id, c.degraded, c.modalities) for c in classified] == [
            ("T1", "join_expired:image", ["text"])
        ]
        assert [(d.reason, d.stream) for d in dead] == [("join_expired", "features.image")]
        assert "only the image half" in dead[0].error
        assert await redis.zcard(deadlines_key(settings)) == 0

        # The lost partner turns up later: "late", no second classification.
        late = missing_image(manifest, "T1", alone_text.submission_id)
        assert [r.status for r in await join_batch(redis, settings, [late])] == ["late"]
    finally:
        await redis.aclose()


async def test_completing_half_redelivered_after_done_ttl_does_not_wait_forever(
    redis_prefix: str, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    manifest = build_repository(root)
    settings = Settings(redis_url=REDIS_URL, stream_prefix=redis_prefix, join_ttl_s=1, join_done_ttl_s=1)
    redis = Redis.from_url(REDIS_URL)
    try:
        text = text_half(manifest, "R1")
        image = missing_image(manifest, "R1", text.submission_id)
        await join_batch(redis, settings, [text])
        assert [r.status for r in await join_batch(redis, settings, [image])] == ["complete"]
        assert await redis.zcard(deadlines_key(settings)) == 0  # completed: no deadline left
        await redis.delete(join_key(settings, text.submission_id))  # join_done_ttl_s went by
        redelivered = await join_batch(redis, settings, [image])
        assert [r.status for r in redelivered] == ["waiting"]
        # It has a deadline, so the sweep resolves it (here: dead letter, nothing usable).
        claimed = await claim_expired(redis, settings, now=time.time() + 5)
        assert [(c.submission_id, c.image is not None) for c in claimed] == [(str(text.submission_id), True)]
    finally:
        await redis.aclose()


async def test_the_running_worker_sweeps_lone_halves_in_its_background_task(
    redis_prefix: str, tmp_path: Path
) -> None:
    """The sweep runs as the worker's ``WorkerSpec.background`` task, with the publisher the
    worker opened: a lone half is classified (degraded) without anyone calling the sweep."""
    root = tmp_path / "repo"
    manifest = build_repository(root)
    settings = expiring(redis_prefix, root)
    assert fusion.SPEC.background is fusion.sweep_forever
    alone = text_half(manifest, "B1")
    async with fusion.create_worker(settings).running(), EventPublisher(settings) as publisher:
        await publisher.publish(Stream.TEXT_FEATURES, [alone])
        classified = await read_events(settings, Stream.CLASSIFIED, ListingClassified, 1, timeout_s=60)
    assert [(c.submission_id, c.degraded) for c in classified] == [
        (alone.submission_id, "join_expired:image")
    ]
