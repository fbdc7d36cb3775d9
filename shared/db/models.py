"""SQL schema of stored predictions (docs/architecture.md §6). Alembic migrations mirror these tables.

``predictions`` holds every classification ever made (unique per ``submission_id``: the
idempotency key; shadow candidates' ones flagged ``shadow``), ``listings`` the current state of
each offer, ``submissions`` every offer published (so that one lost by Redis is found and
re-published), ``listing_labels`` reviewers' labels (the ground truth of live quality),
``reclassification_jobs`` the bulk jobs and their resumable cursor.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Uuid,
    false,
    true,
)
from sqlalchemy import (
    Sequence as SqlSequence,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Category(Base):
    """A code of the taxonomy (docs/taxonomy.md): a leaf, a department, or a retired or merged
    code kept for the predictions and labels that name it. ``taxonomy_version`` is the
    ``taxonomy_versions.id`` that last listed it (NULL: a code a model predicted that no loaded
    taxonomy has); a code not in the current version is unknown to it."""

    __tablename__ = "categories"

    prdtypecode: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    label: Mapped[str] = mapped_column(String(200))
    train_count: Mapped[int | None] = mapped_column(Integer)
    parent_code: Mapped[int | None] = mapped_column(Integer)
    level: Mapped[int | None] = mapped_column(Integer)
    path: Mapped[str | None] = mapped_column(String(1000))
    leaf: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    retired: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    merged_into: Mapped[int | None] = mapped_column(Integer)
    names: Mapped[dict[str, str] | None] = mapped_column(JSON)
    taxonomy_version: Mapped[int | None] = mapped_column(Integer)


class TaxonomyVersion(Base):
    """One loaded taxonomy: the highest id is the current one; ``hash`` is its content version
    (what model manifests record as ``taxonomy_version``)."""

    __tablename__ = "taxonomy_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hash: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(1000), default="")
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    codes: Mapped[int] = mapped_column(Integer)
    leaves: Mapped[int] = mapped_column(Integer)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)


class Listing(Base):
    """One marketplace offer: its content (for reclassification) and current category."""

    __tablename__ = "listings"
    # the review queue's order and keyset pages (services.api.queries.review_queue)
    __table_args__ = (Index("ix_listings_review_order", "current_confidence", "listing_id"),)

    listing_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str | None] = mapped_column(Text)
    image_uri: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    current_submission_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    current_prdtypecode: Mapped[int | None] = mapped_column(ForeignKey("categories.prdtypecode"), index=True)
    current_confidence: Mapped[float | None] = mapped_column(Float)
    current_model_version: Mapped[str | None] = mapped_column(String(64))
    classified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    current_submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the current prediction's offer was submitted (the publisher's clock: reported only)."""
    current_seq: Mapped[int | None] = mapped_column(BigInteger)
    """The ledger sequence (``submissions.seq``) of the current prediction's submission: a
    submission recorded later replaces it, an earlier one classified later (slow or retried)
    only joins the history. The system assigns it, so no publisher clock decides."""


class Prediction(Base):
    """One classification of one submission; history of a listing is its predictions."""

    __tablename__ = "predictions"
    __table_args__ = (
        # covers a listing's history for the writer's agreement rollup and live quality (5,000
        # labelled listings read without 15,000 heap pages: migration 0012); PostgreSQL only
        Index(
            "ix_predictions_listing_history",
            "listing_id",
            "classified_at",
            postgresql_include=["id", "model_version", "prdtypecode", "shadow", "decision"],
        ),
        Index("ix_predictions_category_time", "prdtypecode", "classified_at"),
        Index("ix_predictions_confidence", "confidence"),
        # covers "latest prediction of each listing under a version" (version agreement)
        Index("ix_predictions_version_listing", "model_version", "listing_id", "id", "prdtypecode"),
        Index("ix_predictions_classified_at", "classified_at"),
        Index("ix_predictions_job", "job_id"),
        Index("ix_predictions_shadow_of", "shadow_of"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    submission_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    listing_id: Mapped[str] = mapped_column(String(128))
    origin: Mapped[str] = mapped_column(String(16))
    job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    prdtypecode: Mapped[int] = mapped_column(ForeignKey("categories.prdtypecode"))
    confidence: Mapped[float] = mapped_column(Float)
    top_k: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    modalities: Mapped[str] = mapped_column(String(32))
    model_version: Mapped[str] = mapped_column(String(64))
    model_versions: Mapped[dict[str, str]] = mapped_column(JSON)
    language: Mapped[str | None] = mapped_column(String(16))
    translation_status: Mapped[str | None] = mapped_column(String(16))
    image_missing_reason: Mapped[str | None] = mapped_column(String(32))
    degraded: Mapped[str | None] = mapped_column(String(64))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    classified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stage_timestamps: Mapped[dict[str, str]] = mapped_column(JSON)
    shadow: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    shadow_of: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # auto / review (shared.ml.selective); NULL from revisions without thresholds or older events
    decision: Mapped[str | None] = mapped_column(String(8))


class ListingLabel(Base):
    """A reviewer's category for a listing: who, when, and which prediction it accepts or
    corrects. The latest label of a listing is its ground truth."""

    __tablename__ = "listing_labels"
    __table_args__ = (Index("ix_listing_labels_listing_time", "listing_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    listing_id: Mapped[str] = mapped_column(ForeignKey("listings.listing_id"))
    prdtypecode: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    reviewer: Mapped[str] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
    corrects_submission_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    corrects_prdtypecode: Mapped[int | None] = mapped_column(Integer)
    corrects_model_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


SUBMISSION_SEQ = SqlSequence("submission_seq")
"""PostgreSQL's source of ``submissions.seq`` (on SQLite it is the row's ``rowid``)."""


class Submission(Base):
    """One published submission, recorded before it is published: the reconciler's ledger.

    Open (``closed_at`` null) until the reconciler sees its prediction or a dead letter for it;
    an open one still without a prediction some time after its last publication
    (``published_at``) is overdue and re-published with the same id. Only open rows are
    scanned, so a pass costs what is in flight, not the whole history.
    """

    __tablename__ = "submissions"
    __table_args__ = (
        Index("ix_submissions_open", "closed_at", "published_at"),
        Index("ix_submissions_seq", "seq", unique=True),
    )

    submission_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, SUBMISSION_SEQ)
    """The order submissions entered the ledger (assigned by the store, never by a publisher)."""
    listing_id: Mapped[str] = mapped_column(String(128))
    origin: Mapped[str] = mapped_column(String(16))
    job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    republished: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(16))
    """predicted, or dead (a dead letter names it)."""
    dead_reason: Mapped[str | None] = mapped_column(String(64))


class PredictionMinute(Base):
    """Per-minute sums of written predictions (throughput and lag dashboards stay fast at any
    volume); the writer adds each newly inserted prediction once, in the same transaction."""

    __tablename__ = "prediction_minutes"

    bucket_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    origin: Mapped[str] = mapped_column(String(16), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    latency_n: Mapped[int] = mapped_column(Integer)
    latency_sum: Mapped[float] = mapped_column(Float)
    latency_max: Mapped[float | None] = mapped_column(Float)
    writer_sum: Mapped[float] = mapped_column(Float)
    language_n: Mapped[int] = mapped_column(Integer)
    language_sum: Mapped[float] = mapped_column(Float)
    text_n: Mapped[int] = mapped_column(Integer)
    text_sum: Mapped[float] = mapped_column(Float)
    image_n: Mapped[int] = mapped_column(Integer)
    image_sum: Mapped[float] = mapped_column(Float)
    fusion_n: Mapped[int] = mapped_column(Integer)
    fusion_sum: Mapped[float] = mapped_column(Float)


COUNT_SPANS = (60, 3600, 86400)
"""The widths (seconds) of ``prediction_counts`` buckets: a window is read as whole days, then
whole hours, then whole minutes at its edges (services.api.queries)."""


def count_bucket(at: datetime, span_s: int) -> datetime:
    """The start of the ``prediction_counts`` bucket of width ``span_s`` holding ``at``: its
    minute, hour or UTC day (the writer adds to it, the API reads windows along it)."""
    if span_s == 60:
        return at.replace(second=0, microsecond=0)
    if span_s == 3600:
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


class PredictionCount(Base):
    """Predictions per category and bucket (a minute, an hour and a day, each stored), with the
    dashboard's filters as keys: the distribution, versions seen and auto-accept coverage read
    these instead of counting millions of predictions. The writer adds each newly inserted
    prediction (shadow ones included, keyed apart) once, in the same transaction.
    ``decision`` is '' for predictions without one (a key column cannot be NULL)."""

    __tablename__ = "prediction_counts"

    span_s: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bucket_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    origin: Mapped[str] = mapped_column(String(16), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    shadow: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    decision: Mapped[str] = mapped_column(String(8), primary_key=True)
    prdtypecode: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(BigInteger)
    confidence_sum: Mapped[float] = mapped_column(Float)
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VersionPairCount(Base):
    """Listings whose latest predictions under two model versions (``version_a`` < ``version_b``,
    shadow predictions included) name ``code_a`` and ``code_b``: version agreement without
    merging every listing's history. The writer moves a listing from its old pair to its new one
    when a newer prediction of either version arrives (``services/writer/agreement.py``)."""

    __tablename__ = "version_pair_counts"

    version_a: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_b: Mapped[str] = mapped_column(String(64), primary_key=True)
    code_a: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    code_b: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(BigInteger)


class ShadowPairCount(Base):
    """Shadow predictions per (live version, shadow version, live code, shadow code) of the same
    submission: shadow agreement without joining the shadow predictions to the live ones."""

    __tablename__ = "shadow_pair_counts"

    live_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    shadow_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    live_code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    shadow_code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(BigInteger)


class DriftCount(Base):
    """Live ingested predictions per bucket (``COUNT_SPANS``), model version and value of a drift
    signal (``confidence`` bin, ``language``, ``no_photo``; class shares are ``prediction_counts``'):
    a week's drift baseline without reading a week of predictions."""

    __tablename__ = "drift_counts"

    span_s: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bucket_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    signal: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class ReclassificationJob(Base):
    """A bulk re-run of stored listings; ``cursor`` makes it resumable (keyset paging).

    ``runner`` and ``heartbeat_at`` are its lease: the process running it refreshes the
    heartbeat, and a running job whose heartbeat is older than the lease is taken over by a
    reclassify worker (its runner died).
    """

    __tablename__ = "reclassification_jobs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    category: Mapped[int | None] = mapped_column(Integer)
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    only_model_version: Mapped[str | None] = mapped_column(String(64))
    max_in_flight: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer, default=0)
    published: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    cursor: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    page_size: Mapped[int | None] = mapped_column(Integer)
    runner: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
