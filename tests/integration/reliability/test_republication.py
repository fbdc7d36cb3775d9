"""A re-published submission with no stored prediction is classified (issue 24 C).

The classified event of an offer is lost after fusion (trimmed, dead-lettered at the writer):
the reconciler re-publishes the submission, and the fusion join must not answer ``duplicate``
from the done-marker of the first publication (kept ``join_done_ttl_s``, an hour). Genuine
redeliveries of a half are still duplicates (real Redis, PostgreSQL, tiny models)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from redis.asyncio import Redis

from services.fusion import worker as fusion
from services.fusion.join import RedisJoiner
from services.reconciler.reconciler import reconcile_once
from services.writer.store import write_predictions
from shared.broker import Emit, EventPublisher, Outcome, read_events
from shared.config import Settings
from shared.contract import (
    ImageFeatures,
    ListingClassified,
    ListingSubmitted,
    ModelOutput,
    Stream,
    TextFeatures,
)
from shared.db.listings import upsert_listings
from shared.db.models import Prediction, Submission
from shared.db.session import migrate, session_scope
from shared.db.submissions import record_submissions
from shared.inference.store import ModelStore
from shared.ml.model_repo import Manifest
from tests.conftest import REDIS_URL
from tests.unit.inference.repo_fixture import build_repository


def halves_of(event: ListingSubmitted, manifest: Manifest) -> tuple[TextFeatures, ImageFeatures]:
    """What the encoders publish for ``event`` (its envelope, stamps included, carried on)."""
    outputs = [ModelOutput(model=m.name, logits=[0.1] * len(manifest.labels)) for m in manifest.text_models]
    text = TextFeatures(**event.envelope(), model_version=manifest.version, outputs=outputs)
    image = ImageFeatures(
        **event.envelope(), model_version=manifest.version, status="missing", reason="not_found"
    )
    return text, image


def classified(outcomes: Sequence[Outcome]) -> list[ListingClassified]:
    return [o.event for o in outcomes if isinstance(o, Emit) and isinstance(o.event, ListingClassified)]


async def test_a_republished_offer_whose_prediction_was_lost_is_classified_again(
    redis_prefix: str, postgres_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    manifest = build_repository(root)
    settings = Settings(
        redis_url=REDIS_URL, stream_prefix=redis_prefix, database_url=postgres_url, model_repository=root
    )
    migrate(postgres_url)
    offer = ListingSubmitted.new("R-lost", "Lego Star Wars")
    with session_scope(postgres_url) as session:
        upsert_listings(session, [offer])
        record_submissions(session, [offer])
    redis = Redis.from_url(REDIS_URL)
    store = ModelStore(root, poll_interval_s=0)
    store.fusion(await store.current())
    deps = fusion.Deps(RedisJoiner(redis, settings), store, settings.top_k)
    try:
        text, image = halves_of(offer, manifest)
        assert classified(await fusion.fuse([text], deps)) == []
        first = classified(await fusion.fuse([image], deps))
        assert len(first) == 1  # ... and this classified event is lost before the writer
        # A half published twice by a re-run encoder is still a duplicate.
        redelivered_text = text.model_copy(update={"outputs": [*text.outputs]})
        assert classified(await fusion.fuse([redelivered_text.stamped("text_encoded")], deps)) == []

        async with EventPublisher(settings) as pub:
            report = await reconcile_once(settings, pub, older_than_s=0)
        assert report.republished == 1
        [again] = await read_events(settings, Stream.SUBMITTED, ListingSubmitted, 1, timeout_s=10)
        assert again.submission_id == offer.submission_id and "republished" in again.timestamps

        new_text, new_image = halves_of(again, manifest)
        assert classified(await fusion.fuse([new_image], deps)) == []
        [result] = classified(await fusion.fuse([new_text], deps))
        assert result.submission_id == offer.submission_id
        # Redeliveries of either generation after that: no second classification.
        assert classified(await fusion.fuse([new_text.stamped("text_encoded")], deps)) == []
        assert classified(await fusion.fuse([image.stamped("image_encoded")], deps)) == []

        with session_scope(postgres_url) as session:
            write_predictions(session, [result])
        async with EventPublisher(settings) as pub:
            closing = await reconcile_once(settings, pub, older_than_s=0)
        assert (closing.closed_predicted, closing.republished) == (1, 0)
        with session_scope(postgres_url) as session:
            assert session.query(Prediction).count() == 1
            row = session.get(Submission, offer.submission_id)
            assert row is not None and row.outcome == "predicted"
    finally:
        await redis.aclose()
