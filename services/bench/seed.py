"""Synthetic predictions for the dashboard benchmark (``catalog bench queries``).

They go through the writer's own code path (:func:`services.writer.store.write_predictions`), so a
seeded database looks exactly like one the pipeline filled. (Tests build single events with
``tests.support.factories.classified_event``, on top of :func:`prediction_event`.)
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from services.writer.store import write_predictions
from shared.categories import reference_categories
from shared.contract import SCHEMA_VERSION, CategoryScore, ListingClassified, ListingSubmitted, Origin, utcnow
from shared.db.listings import upsert_listings
from shared.db.session import session_scope


def prediction_event(
    listing_id: str,
    prdtypecode: int,
    confidence: float,
    *,
    model_version: str,
    submitted_at: datetime,
    latency_s: float,
    origin: Origin,
    submission_id: UUID | None = None,
    decision: Literal["auto", "review"] | None = None,
) -> ListingClassified:
    """A plausible ``listings.classified`` event with every stage timestamp filled."""
    submitted = submitted_at
    labels = {c.prdtypecode: c.label for c in reference_categories()}
    others = [code for code in labels if code != prdtypecode][:2]
    rest = (1.0 - confidence) / 2
    return ListingClassified(
        schema_version=SCHEMA_VERSION,
        submission_id=submission_id or uuid.uuid4(),
        listing_id=listing_id,
        origin=origin,
        timestamps={
            "submitted": submitted,
            "prepared": submitted + timedelta(seconds=latency_s * 0.2),
            "text_encoded": submitted + timedelta(seconds=latency_s * 0.6),
            "image_encoded": submitted + timedelta(seconds=latency_s * 0.7),
            "classified": submitted + timedelta(seconds=latency_s),
        },
        prdtypecode=prdtypecode,
        label=labels.get(prdtypecode, str(prdtypecode)),
        confidence=confidence,
        top_k=[
            CategoryScore(
                prdtypecode=prdtypecode, label=labels.get(prdtypecode, "?"), probability=confidence
            ),
            *(CategoryScore(prdtypecode=c, label=labels[c], probability=rest) for c in others),
        ],
        modalities=["text", "image"],
        model_version=model_version,
        model_versions={"text_minilm": "1", "image_efficientnet_lite0": "1", "fusion": "fusion/1"},
        language="fr",
        translation_status="not_needed",
        image_missing_reason=None,
        decision=decision,
    )


def seed_database(
    database_url: str,
    n_predictions: int,
    *,
    n_listings: int | None = None,
    days: float = 7.0,
    versions: tuple[str, ...] = ("r1", "r2"),
    seed: int = 0,
    chunk: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Seed ``n_predictions`` predictions over ``n_listings`` listings and the last ``days``.

    Each listing gets one prediction per version in turn (so version agreement has pairs);
    codes follow the reference class frequencies, confidences spread over [0.2, 1].
    """
    rng = random.Random(seed)
    cats = reference_categories()
    codes = [c.prdtypecode for c in cats]
    weights = [c.train_count for c in cats]
    n_listings = n_listings or max(1, n_predictions // len(versions))
    end = utcnow()
    start = end - timedelta(days=days)
    span = (end - start).total_seconds()
    true_code = {i: rng.choices(codes, weights)[0] for i in range(n_listings)}
    done = 0
    while done < n_predictions:
        size = min(chunk, n_predictions - done)
        events = []
        offers = []
        for k in range(done, done + size):
            listing = k % n_listings
            version = versions[(k // n_listings) % len(versions)]
            code = true_code[listing] if rng.random() < 0.85 else rng.choices(codes, weights)[0]
            at = start + timedelta(seconds=span * k / max(1, n_predictions))
            listing_id = f"L{listing:08d}"
            events.append(
                prediction_event(
                    listing_id,
                    code,
                    round(rng.uniform(0.2, 1.0), 4),
                    model_version=version,
                    submitted_at=at,
                    latency_s=rng.uniform(0.2, 3.0),
                    origin=Origin(kind="ingest" if version == versions[0] else "reclassify", job_id=None),
                )
            )
            if k < n_listings:
                offers.append(ListingSubmitted.new(listing_id, title=f"Produit {listing}"))
        with session_scope(database_url) as session:
            upsert_listings(session, offers, now=start)
            write_predictions(session, events)
        done += size
        if progress:
            progress(size)
