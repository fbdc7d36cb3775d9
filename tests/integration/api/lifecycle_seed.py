"""Lifecycle data for the dashboard: a repository (current r1, shadow r3), recent live traffic
with a drifted language mix, shadow predictions and reviewers' labels."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import numpy as np

from services.writer.store import write_predictions
from shared.categories import reference_categories
from shared.contract import ListingSubmitted, utcnow
from shared.db.listings import upsert_listings
from shared.db.quality import record_label
from shared.db.session import session_scope
from shared.lifecycle.drift import training_reference
from shared.lifecycle.state import set_shadow
from shared.ml.model_repo import LabelSpec, Manifest, publish_manifest
from tests.support.factories import classified_event


def seed_lifecycle(database_url: str, repo: Path, n: int = 240, seed: int = 3) -> None:
    rng = random.Random(seed)
    cats = reference_categories()
    codes = [c.prdtypecode for c in cats]
    weights = [float(c.train_count or 1) for c in cats]
    total = sum(weights)
    for revision, version, f1 in ((1, "r1", 0.86), (3, "r3", 0.88)):
        reference = training_reference(
            {str(c): int(1000 * w / total) for c, w in zip(codes, weights, strict=True)},
            np.random.default_rng(0).beta(6, 2, 400),
            np.array([True] * 340 + [False] * 60),
        )
        manifest = Manifest(
            version=version, revision=revision, created_at=utcnow(),
            labels=[LabelSpec(prdtypecode=c.prdtypecode, name=c.label) for c in cats],
            metrics={"fusion": {"weighted_f1": f1}}, reference=reference,
        )  # fmt: skip
        publish_manifest(repo, manifest)
    set_shadow(repo, "r3", 0.25, by="ml-oncall")
    now = utcnow()
    live, shadow, offers = [], [], []
    for i in range(n):
        code = rng.choices(codes, weights)[0]
        listing_id = f"N{i:05d}"
        offers.append(ListingSubmitted.new(listing_id, title=f"Nouvelle offre {i}"))
        event = classified_event(
            listing_id, code, round(rng.betavariate(6, 2), 3), model_version="r1",
            submitted_at=now - timedelta(seconds=3300 * (n - i) / n), latency_s=0.8,
        )  # fmt: skip
        language = rng.choices(["fr", "en", "ja"], [0.7, 0.1, 0.2])[0]
        missing = "no_image" if rng.random() < 0.15 else None
        decision = "auto" if event.confidence >= 0.8 else "review"  # as a 0.8 threshold would
        event = event.model_copy(
            update={"language": language, "image_missing_reason": missing, "decision": decision}
        )
        live.append(event)
        if i % 4 == 0:
            other = code if rng.random() < 0.87 else rng.choice(codes)
            shadow.append(
                classified_event(listing_id, other, 0.8, model_version="r3").model_copy(
                    update={"shadow": True, "shadow_of": event.submission_id}
                )
            )
    with session_scope(database_url) as session:
        upsert_listings(session, offers)
        write_predictions(session, live + shadow)
    with session_scope(database_url) as session:
        for k, event in enumerate(live[:120:3]):
            truth = event.prdtypecode if rng.random() < 0.8 else rng.choice(codes)
            record_label(session, event.listing_id, truth, reviewer=("alice", "bob")[k % 2])
