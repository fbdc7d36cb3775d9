"""Taxonomy: a category tree with versions (docs/taxonomy.md).

``categories`` gains its place in the tree (parent, level, path, leaf), retirement and merge
target, names by language and the taxonomy version that last listed it; ``taxonomy_versions``
records every loaded taxonomy. The reference tree (the 27 codes under 10 departments) is loaded
as version 1, so the categories keep their codes and gain departments and paths.

Revision ID: 0009_taxonomy
Revises: 0008_selective
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_taxonomy"
down_revision: str | None = "0008_selective"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("parent_code", "level", "path", "leaf", "retired", "merged_into", "names", "taxonomy_version")


def upgrade() -> None:
    with op.batch_alter_table("categories") as batch:
        batch.add_column(sa.Column("parent_code", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("level", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("path", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("leaf", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch.add_column(sa.Column("retired", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("merged_into", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("names", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("taxonomy_version", sa.Integer(), nullable=True))
    op.create_table(
        "taxonomy_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=1000), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("codes", sa.Integer(), nullable=False),
        sa.Column("leaves", sa.Integer(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxonomy_versions")),
    )
    op.create_index(op.f("ix_taxonomy_versions_hash"), "taxonomy_versions", ["hash"], unique=False)
    _load_reference()


def _load_reference() -> None:
    """The reference tree as version 1, in plain SQL of this revision's columns (not the ORM
    models, which later revisions change)."""
    from shared.contract import utcnow
    from shared.taxonomy.files import reference_taxonomy
    from shared.taxonomy.store import compare

    tree = reference_taxonomy()
    conn = op.get_bind()
    versions = sa.table(
        "taxonomy_versions",
        *(sa.column(n) for n in ("hash", "title", "source", "loaded_at", "codes", "leaves")),
        sa.column("changes", sa.JSON),
        sa.column("id", sa.Integer),
    )
    conn.execute(
        versions.insert().values(
            hash=tree.version,
            title=tree.title[:500],
            source="reference (migration 0008)",
            loaded_at=utcnow(),
            codes=len(tree.nodes),
            leaves=len(tree.live_leaves()),
            changes=compare(None, tree),
        )
    )
    version_id = conn.execute(sa.select(sa.func.max(versions.c.id))).scalar_one()
    categories = sa.table(
        "categories",
        sa.column("prdtypecode", sa.Integer),
        sa.column("label", sa.String),
        *(sa.column(n) for n in _COLUMNS if n != "names"),
        sa.column("names", sa.JSON),
    )
    existing = set(conn.execute(sa.select(categories.c.prdtypecode)).scalars())
    for code, node in tree.nodes.items():
        values = {
            "label": node.name or str(code),
            "parent_code": node.parent,
            "level": tree.level(code),
            "path": tree.path(code),
            "leaf": tree.is_leaf(code),
            "retired": node.retired,
            "merged_into": None,
            "names": dict(node.names) or None,
            "taxonomy_version": version_id,
        }
        if code in existing:
            conn.execute(categories.update().where(categories.c.prdtypecode == code).values(**values))
        else:
            conn.execute(categories.insert().values(prdtypecode=code, **values))


def downgrade() -> None:
    op.drop_index(op.f("ix_taxonomy_versions_hash"), table_name="taxonomy_versions")
    op.drop_table("taxonomy_versions")
    op.execute(sa.text("DELETE FROM categories WHERE prdtypecode >= 90001 AND prdtypecode <= 90010"))
    with op.batch_alter_table("categories") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
