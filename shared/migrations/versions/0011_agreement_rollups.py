"""Dashboards on 10 million predictions: the writer's rollups of version agreement
(``version_pair_counts``), shadow agreement (``shadow_pair_counts``) and the drift signals
(``drift_counts``), so none of those reads scans predictions. Existing predictions are counted
in (shared.db.rollup_backfill).

Revision ID: 0011_agreement_rollups
Revises: 0010_prediction_counts
Create Date: 2026-12-07 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_agreement_rollups"
down_revision: str | None = "0010_prediction_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from shared.db.rollup_backfill import backfill_drift, backfill_shadow_pairs, backfill_version_pairs

    op.create_table(
        "version_pair_counts",
        sa.Column("version_a", sa.String(length=64), nullable=False),
        sa.Column("version_b", sa.String(length=64), nullable=False),
        sa.Column("code_a", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("code_b", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "version_a", "version_b", "code_a", "code_b", name=op.f("pk_version_pair_counts")
        ),
    )
    op.create_table(
        "shadow_pair_counts",
        sa.Column("live_version", sa.String(length=64), nullable=False),
        sa.Column("shadow_version", sa.String(length=64), nullable=False),
        sa.Column("live_code", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("shadow_code", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "live_version", "shadow_version", "live_code", "shadow_code", name=op.f("pk_shadow_pair_counts")
        ),
    )
    op.create_table(
        "drift_counts",
        sa.Column("span_s", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("signal", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "span_s", "bucket_start", "model_version", "signal", "value", name=op.f("pk_drift_counts")
        ),
    )
    bind = op.get_bind()
    backfill_version_pairs(bind)
    backfill_shadow_pairs(bind)
    backfill_drift(bind)


def downgrade() -> None:
    op.drop_table("drift_counts")
    op.drop_table("shadow_pair_counts")
    op.drop_table("version_pair_counts")
