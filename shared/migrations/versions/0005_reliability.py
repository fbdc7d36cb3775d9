"""Reliability: the listing's current prediction is the newest *submission*'s (not the last
classified), and a prediction records why it is degraded (a join that expired half-empty).

Revision ID: 0005_reliability
Revises: 0004_lifecycle
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_reliability"
down_revision: str | None = "0004_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("listings") as batch:
        batch.add_column(sa.Column("current_submitted_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("degraded", sa.String(length=64), nullable=True))
    # Existing current predictions: their submission time (the classification time if unknown).
    op.execute(
        "UPDATE listings SET current_submitted_at = COALESCE("
        "(SELECT p.submitted_at FROM predictions p WHERE p.submission_id = listings.current_submission_id),"
        " classified_at) WHERE current_submission_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("degraded")
    with op.batch_alter_table("listings") as batch:
        batch.drop_column("current_submitted_at")
