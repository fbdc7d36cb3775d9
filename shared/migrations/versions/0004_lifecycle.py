"""Model lifecycle: reviewers' labels, shadow predictions.

Revision ID: 0004_lifecycle
Revises: 0003_job_lease
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_lifecycle"
down_revision: str | None = "0003_job_lease"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listing_labels",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("listing_id", sa.String(length=128), nullable=False),
        sa.Column("prdtypecode", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("corrects_submission_id", sa.Uuid(), nullable=True),
        sa.Column("corrects_prdtypecode", sa.Integer(), nullable=True),
        sa.Column("corrects_model_version", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["listings.listing_id"], name=op.f("fk_listing_labels_listing_id_listings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listing_labels")),
    )
    with op.batch_alter_table("listing_labels", schema=None) as batch_op:
        batch_op.create_index("ix_listing_labels_listing_time", ["listing_id", "created_at"], unique=False)
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shadow", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("shadow_of", sa.Uuid(), nullable=True))
        batch_op.create_index("ix_predictions_shadow_of", ["shadow_of"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index("ix_predictions_shadow_of")
        batch_op.drop_column("shadow_of")
        batch_op.drop_column("shadow")
    with op.batch_alter_table("listing_labels", schema=None) as batch_op:
        batch_op.drop_index("ix_listing_labels_listing_time")
    op.drop_table("listing_labels")
