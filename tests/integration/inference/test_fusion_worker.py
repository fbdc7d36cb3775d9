"""The fusion worker under redelivery: a crash before publishing still yields the prediction;
duplicate halves never yield a second one."""

from __future__ import annotations

import asyncio
import shutil
from uuid import uuid4

from services.fusion.join import join_key
from services.fusion.worker import create_worker as fusion_worker
from shared.broker import EventPublisher, read_events
from shared.config import Settings
from shared.contract import DeadLetter, ImageFeatures, ListingClassified, ModelOutput, Stream, TextFeatures
from tests.unit.inference.repo_fixture import build_repository


def pair(version: str) -> tuple[TextFeatures, ImageFeatures]:
    sid = uuid4()
    text = TextFeatures(
        submission_id=sid,
        listing_id=f"l-{sid.hex[:6]}",
        model_version=version,
        outputs=[ModelOutput(model="text_tiny", logits=[0.0, 3.0, 0.0, 0.0])],
    )
    image = ImageFeatures(
        submission_id=sid,
        listing_id=text.listing_id,
        model_version=version,
        outputs=[ModelOutput(model="image_tiny", logits=[0.0, 1.0, 0.0, 0.0])],
    )
    return text, image


async def test_crash_before_publish_then_duplicates(settings: Settings) -> None:
    settings = settings.model_copy(update={"reclaim_idle_ms": 300, "max_deliveries": 1000})
    root = settings.model_repository
    async with fusion_worker(settings).running() as worker, EventPublisher(settings) as pub:
        # Revision 2 goes live while its fusion files are not readable yet: fusing fails.
        second = build_repository(root, revision=2, seed=3)
        hidden = root / "fusion-2-hidden"
        shutil.move(root / "fusion" / "2", hidden)
        text, image = pair(second.version)
        await pub.publish(Stream.TEXT_FEATURES, [text])
        await pub.publish(Stream.IMAGE_FEATURES, [image])
        key = join_key(settings, text.submission_id)
        while not await worker.redis.hexists(key, "done"):  # joined, then crashed before publishing
            await asyncio.sleep(0.05)
        shutil.move(hidden, root / "fusion" / "2")
        classified = await read_events(settings, Stream.CLASSIFIED, ListingClassified, 1, 30)
        assert [c.submission_id for c in classified] == [text.submission_id]
        assert classified[0].model_version == second.version
        assert classified[0].modalities == ["text", "image"]
        # Duplicates of both halves (re-published by a re-run encoder), then a sentinel.
        await pub.publish(Stream.TEXT_FEATURES, [text.stamped("text_encoded")])
        await pub.publish(Stream.IMAGE_FEATURES, [image.stamped("image_encoded")])
        s_text, s_image = pair(second.version)
        await pub.publish(Stream.TEXT_FEATURES, [s_text])
        await pub.publish(Stream.IMAGE_FEATURES, [s_image])
        # The duplicates precede the sentinel's halves in their streams: once the sentinel is
        # classified, they have been handled (a wrong extra classification would be there).
        classified = await read_events(settings, Stream.CLASSIFIED, ListingClassified, 2, 30)
        classified = await read_events(settings, Stream.CLASSIFIED, ListingClassified, 3, 0.5)
    assert sorted(str(c.submission_id) for c in classified) == sorted(
        [str(text.submission_id), str(s_text.submission_id)]
    )
    assert await read_events(settings, Stream.DEAD, DeadLetter, 1, 0.2) == []
