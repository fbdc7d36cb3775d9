"""Submissions ledger: every published submission, so that the reconciler finds those that have
neither a prediction nor a dead letter (lost by Redis) and re-publishes them.

Revision ID: 0006_submissions
Revises: 0005_reliability
Create Date: 2026-11-30 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_submissions"
down_revision: str | None = "0005_reliability"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("submission_id", sa.Uuid(), nullable=False),
        sa.Column("listing_id", sa.String(length=128), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("republished", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("dead_reason", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_submissions")),
    )
    op.create_index("ix_submissions_open", "submissions", ["closed_at", "published_at"])


def downgrade() -> None:
    op.drop_index("ix_submissions_open", table_name="submissions")
    op.drop_table("submissions")
