"""Dashboards on millions of predictions: per-category counts per minute, hour and day
(``prediction_counts``, written by the writer with each prediction) and the review queue's
keyset index (``listings (current_confidence, listing_id)``, replacing the confidence index).
Existing predictions are counted in (shared.db.rollup_backfill).

Revision ID: 0010_prediction_counts
Revises: 0009_taxonomy
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_prediction_counts"
down_revision: str | None = "0009_taxonomy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from shared.db.rollup_backfill import backfill_counts

    op.create_table(
        "prediction_counts",
        sa.Column("span_s", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("prdtypecode", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("confidence_sum", sa.Float(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "span_s", "bucket_start", "origin", "model_version", "shadow", "decision", "prdtypecode",
            name=op.f("pk_prediction_counts"),
        ),
    )  # fmt: skip
    with op.batch_alter_table("listings") as batch:
        batch.drop_index("ix_listings_current_confidence")
        batch.create_index("ix_listings_review_order", ["current_confidence", "listing_id"], unique=False)
    backfill_counts(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("listings") as batch:
        batch.drop_index("ix_listings_review_order")
        batch.create_index("ix_listings_current_confidence", ["current_confidence"], unique=False)
    op.drop_table("prediction_counts")
