"""The fusion join on real Redis: out-of-order halves, duplicates, redelivery, TTL."""

from __future__ import annotations

from uuid import uuid4

from redis.asyncio import Redis

from services.fusion.join import JOIN_GRACE_S, join_batch, join_key
from shared.config import Settings
from shared.contract import ImageFeatures, ModelOutput, TextFeatures
from shared.inference.pinning import pin_key
from tests.conftest import REDIS_URL


def halves(version: str = "r1") -> tuple[TextFeatures, ImageFeatures]:
    sid = uuid4()
    text = TextFeatures(
        submission_id=sid,
        listing_id="p1",
        model_version=version,
        outputs=[ModelOutput(model="t", logits=[1.0, 0.0])],
    )
    image = ImageFeatures(
        submission_id=sid, listing_id="p1", model_version=version, status="missing", reason="not_found"
    )
    return text, image


async def test_out_of_order_and_redelivery(redis_prefix: str) -> None:
    settings = Settings(redis_url=REDIS_URL, stream_prefix=redis_prefix, join_ttl_s=600, join_done_ttl_s=30)
    redis = Redis.from_url(REDIS_URL)
    try:
        text, image = halves()
        text2, image2 = halves()
        # Image first for one submission, text first for the other, in mixed batches.
        await redis.set(pin_key(settings, text.submission_id), "r1")
        first = await join_batch(redis, settings, [image, text2])
        assert [r.status for r in first] == ["waiting", "waiting"]
        # join_ttl_s, plus the grace that lets the expiry sweep find a half past its deadline
        assert 600 < await redis.ttl(join_key(settings, text.submission_id)) <= 600 + JOIN_GRACE_S
        second = await join_batch(redis, settings, [text, image2])
        assert [r.status for r in second] == ["complete", "complete"]
        assert second[0].text == text and second[0].image == image
        assert second[1].text == text2 and second[1].image == image2
        # The completing message redelivered (its processing crashed before publishing):
        # complete again, so the classification is still produced.
        again = await join_batch(redis, settings, [text])
        assert again[0].status == "complete" and again[0].image == image
        # The first half delivered again, and a re-published copy of a half: duplicates.
        stamped = text.stamped("text_encoded")
        dup = await join_batch(redis, settings, [image, stamped, image2])
        assert [r.status for r in dup] == ["duplicate", "duplicate", "complete"]
        # Completed: remembered for join_done_ttl_s only, and the version pin is gone.
        assert 0 < await redis.ttl(join_key(settings, text.submission_id)) <= 30
        assert await redis.exists(pin_key(settings, text.submission_id)) == 0
    finally:
        await redis.aclose()


async def test_same_half_twice_before_the_other(redis_prefix: str) -> None:
    settings = Settings(redis_url=REDIS_URL, stream_prefix=redis_prefix)
    redis = Redis.from_url(REDIS_URL)
    try:
        text, image = halves()
        copy = text.stamped("text_encoded")
        assert [r.status for r in await join_batch(redis, settings, [text, copy])] == ["waiting", "waiting"]
        done = await join_batch(redis, settings, [image])
        assert done[0].status == "complete" and done[0].text == text  # the first copy is kept
        assert (await join_batch(redis, settings, [copy]))[0].status == "duplicate"
    finally:
        await redis.aclose()
