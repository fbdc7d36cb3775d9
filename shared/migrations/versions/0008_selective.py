"""Auto-accept decisions: each prediction says whether it was confident enough to accept
without a person (``auto``) or needs a review (``review``); NULL for older predictions.

Revision ID: 0008_selective
Revises: 0007_submission_sequence
Create Date: 2026-12-07 14:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_selective"
down_revision: str | None = "0007_submission_sequence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("predictions", sa.Column("decision", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("decision")
