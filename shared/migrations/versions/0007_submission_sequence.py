"""Submission sequence: the order the system assigns to submissions decides a listing's current
prediction (not the publisher's ``submitted`` clock, which a future stamp could pin).

``submissions.seq`` is assigned when a submission enters the ledger (PostgreSQL: the
``submission_seq`` sequence; SQLite: the row's ``rowid``, assigned by SQLite on insert);
``listings.current_seq`` is the seq of the listing's current prediction.
Existing rows are numbered in their ``submitted_at`` order.

Revision ID: 0007_submission_sequence
Revises: 0006_submissions
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_submission_sequence"
down_revision: str | None = "0006_submissions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE SEQUENCE IF NOT EXISTS submission_seq")
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("listings") as batch:
        batch.add_column(sa.Column("current_seq", sa.BigInteger(), nullable=True))
    if postgres:
        op.execute(
            "UPDATE submissions SET seq = numbered.n FROM (SELECT submission_id, row_number() OVER "
            "(ORDER BY submitted_at, submission_id) AS n FROM submissions) AS numbered "
            "WHERE submissions.submission_id = numbered.submission_id"
        )
    else:  # SQLite numbers rows as they were inserted: the ledger's own order
        op.execute("UPDATE submissions SET seq = rowid")
    op.execute(
        "UPDATE listings SET current_seq = (SELECT seq FROM submissions "
        "WHERE submissions.submission_id = listings.current_submission_id)"
    )
    if postgres:
        op.execute(
            "SELECT setval('submission_seq', GREATEST(1, (SELECT coalesce(max(seq), 0) FROM submissions)))"
        )
        op.execute("ALTER TABLE submissions ALTER COLUMN seq SET DEFAULT nextval('submission_seq')")
    op.create_index("ix_submissions_seq", "submissions", ["seq"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_submissions_seq", table_name="submissions")
    with op.batch_alter_table("listings") as batch:
        batch.drop_column("current_seq")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("seq")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS submission_seq")
