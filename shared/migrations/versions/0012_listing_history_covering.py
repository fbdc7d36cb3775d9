"""The listing-history index covers what live quality, auto-accept precision and the writer's
agreement rollup read of a listing's predictions (id, model version, code, shadow, decision), so
5,000 labelled listings of a 10-million-prediction table are read from the index, not from 15,000
heap pages
(docs/benchmarks/queries.md). PostgreSQL only: SQLite has no INCLUDE and keeps the plain index.

Revision ID: 0012_listing_history_covering
Revises: 0011_agreement_rollups
Create Date: 2026-12-07 20:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012_listing_history_covering"
down_revision: str | None = "0011_agreement_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME, _COLUMNS = "ix_predictions_listing_history", ["listing_id", "classified_at"]
_COVERED = ["id", "model_version", "prdtypecode", "shadow", "decision"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(_NAME, table_name="predictions")
    op.create_index(_NAME, "predictions", _COLUMNS, postgresql_include=_COVERED)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(_NAME, table_name="predictions")
    op.create_index(_NAME, "predictions", _COLUMNS)
