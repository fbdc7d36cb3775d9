"""Dashboard speed: per-minute prediction sums, covering index for version agreement,
index on listings' current confidence (review queue).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 17:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUMS = ("latency", "language", "text", "image", "fusion")


def upgrade() -> None:
    columns: list[sa.Column] = [
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("latency_n", sa.Integer(), nullable=False),
        sa.Column("latency_sum", sa.Float(), nullable=False),
        sa.Column("latency_max", sa.Float(), nullable=True),
        sa.Column("writer_sum", sa.Float(), nullable=False),
    ]
    for name in SUMS[1:]:
        columns += [
            sa.Column(f"{name}_n", sa.Integer(), nullable=False),
            sa.Column(f"{name}_sum", sa.Float(), nullable=False),
        ]
    op.create_table(
        "prediction_minutes",
        *columns,
        sa.PrimaryKeyConstraint(
            "bucket_start", "origin", "model_version", name=op.f("pk_prediction_minutes")
        ),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index("ix_predictions_version_listing")
        batch_op.create_index(
            "ix_predictions_version_listing",
            ["model_version", "listing_id", "id", "prdtypecode"],
            unique=False,
        )
    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_listings_current_confidence"), ["current_confidence"], unique=False
        )
    # existing predictions enter the sums (a no-op on a fresh database)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        minute = "date_trunc('minute', classified_at)"
        epoch = "date_part('epoch', {})"
        stage = "(stage_timestamps->>'{}')::timestamptz"
    else:
        minute = "strftime('%Y-%m-%d %H:%M:00.000000', classified_at)"
        epoch = "((julianday({}) - 2440587.5) * 86400.0)"
        stage = "json_extract(stage_timestamps, '$.{}')"

    def span(start: str, end: str) -> str:
        return f"({epoch.format(end)} - {epoch.format(start)})"

    at = {name: stage.format(name) for name in ("prepared", "text_encoded", "image_encoded")}
    later = (
        f"greatest({at['text_encoded']}, {at['image_encoded']})"
        if bind.dialect.name == "postgresql"
        else f"max({at['text_encoded']}, {at['image_encoded']})"
    )
    parts = {
        "latency": span("submitted_at", "classified_at"),
        "language": span(stage.format("submitted"), at["prepared"]),
        "text": span(at["prepared"], at["text_encoded"]),
        "image": span(stage.format("submitted"), at["image_encoded"]),
        "fusion": span(later, "classified_at"),
    }
    sums = ", ".join(f"count({parts[n]}), coalesce(sum({parts[n]}), 0)" for n in SUMS[1:])
    op.execute(
        "INSERT INTO prediction_minutes (bucket_start, origin, model_version, count, latency_n, latency_sum, "
        "latency_max, writer_sum, " + ", ".join(f"{n}_n, {n}_sum" for n in SUMS[1:]) + ") "
        f"SELECT {minute}, origin, model_version, count(*), count({parts['latency']}), "
        f"coalesce(sum({parts['latency']}), 0), max({parts['latency']}), "
        f"coalesce(sum({span('classified_at', 'written_at')}), 0), {sums} "
        f"FROM predictions GROUP BY {minute}, origin, model_version"
    )


def downgrade() -> None:
    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listings_current_confidence"))
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index("ix_predictions_version_listing")
        batch_op.create_index("ix_predictions_version_listing", ["model_version", "listing_id"], unique=False)
    op.drop_table("prediction_minutes")
