"""Events the tests build by hand, with defaults that make a plausible one from two arguments."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from services.bench.seed import prediction_event
from shared.contract import ListingClassified, Origin, utcnow


def classified_event(
    listing_id: str,
    prdtypecode: int,
    confidence: float = 0.9,
    *,
    model_version: str = "r1",
    submitted_at: datetime | None = None,
    latency_s: float = 1.0,
    origin: Origin | None = None,
    submission_id: UUID | None = None,
    decision: Literal["auto", "review"] | None = None,
) -> ListingClassified:
    """A ``listings.classified`` event of model ``r1``, submitted now by an ingest, unless told."""
    return prediction_event(
        listing_id,
        prdtypecode,
        confidence,
        model_version=model_version,
        submitted_at=submitted_at or utcnow(),
        latency_s=latency_s,
        origin=origin or Origin(kind="ingest", job_id=None),
        submission_id=submission_id,
        decision=decision,
    )
