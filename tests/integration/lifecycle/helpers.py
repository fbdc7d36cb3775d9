"""Repositories of bare manifests (the gate and drift read manifests only) and labelled listings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.writer.store import write_predictions
from shared.contract import ListingClassified, ListingSubmitted, utcnow
from shared.db.listings import upsert_listings
from shared.db.quality import record_label
from shared.db.session import session_scope
from shared.ml.model_repo import DriftReference, LabelSpec, Manifest, publish_manifest
from shared.taxonomy.files import reference_taxonomy
from tests.support.factories import classified_event

CODES = [10, 40, 1280, 2583]
SPLIT = {"data_fingerprint": "fp1", "profile": {"seed": 1, "test_fraction": 0.2, "fusion_fraction": 0.2}}


def manifest(revision: int, held_out_f1: float, reference: DriftReference | None = None) -> Manifest:
    return Manifest(
        version=f"r{revision}-gate",
        revision=revision,
        created_at=utcnow(),
        labels=[LabelSpec(prdtypecode=c, name=str(c)) for c in CODES],
        training=dict(SPLIT),
        metrics={"fusion": {"n": 200, "weighted_f1": held_out_f1}},
        reference=reference,
        taxonomy_version=reference_taxonomy().version,  # the database's (migration 0008)
    )


def publish(repo: Path, revision: int, held_out_f1: float, **extra: Any) -> Manifest:
    m = manifest(revision, held_out_f1, **extra)
    publish_manifest(repo, m)
    return m


def write(url: str, events: list[ListingClassified]) -> None:
    with session_scope(url) as session:
        write_predictions(session, events)


def label_listings(url: str, truth: dict[str, int], predicted: dict[str, dict[str, int]]) -> None:
    """Listings with one prediction per version (``predicted[version][listing]``; versions whose
    name ends with ``-shadow`` are written as shadow predictions), then a label each."""
    with session_scope(url) as session:
        upsert_listings(session, [ListingSubmitted.new(lid, title=f"offer {lid}") for lid in truth])
    live: dict[str, ListingClassified] = {}
    for version, codes in predicted.items():
        events = []
        for lid, code in codes.items():
            event = classified_event(lid, code, 0.5, model_version=version.removesuffix("-shadow"))
            if version.endswith("-shadow"):
                event = event.model_copy(update={"shadow": True, "shadow_of": live[lid].submission_id})
            else:
                live[lid] = event
            events.append(event)
        write(url, events)
    with session_scope(url) as session:
        for lid, code in truth.items():
            record_label(session, lid, code, reviewer="alice")
