"""The taxonomy in SQL: ``categories`` (one row per code ever known) and ``taxonomy_versions``.

:func:`load_taxonomy` stores a validated tree as a new version (the same content twice is one
version) and says what changed; :func:`code_refusal` is why a code cannot take a new label or
job; :func:`directory` gives every code's name, path and merge target to the dashboard queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.contract import utcnow
from shared.db.models import Category, Listing, ListingLabel, TaxonomyVersion
from shared.taxonomy.model import Node, Taxonomy, TaxonomyError


@dataclass(frozen=True)
class CodeInfo:
    """What a reader shows for a code: its name, path, and what it reads as now."""

    code: int
    name: str
    path: str
    level: int
    parent: int | None
    leaf: bool
    status: str
    """live, department, retired, merged or unknown (not in the current taxonomy)."""
    merged_into: int | None

    def view(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "status": self.status}


class CodeRefused(ValueError):
    """A code that cannot take a new label or job; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, kind: str, status: int = 409) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


def current_version(session: Session) -> TaxonomyVersion | None:
    return session.scalar(select(TaxonomyVersion).order_by(TaxonomyVersion.id.desc()).limit(1))


def stored_taxonomy(session: Session) -> Taxonomy | None:
    """The current taxonomy as loaded (None when none ever was)."""
    version = current_version(session)
    if version is None:
        return None
    rows = session.scalars(select(Category).where(Category.taxonomy_version == version.id))
    nodes = {
        row.prdtypecode: Node(
            row.prdtypecode, row.label, row.parent_code, dict(row.names or {}), row.retired, row.merged_into
        )
        for row in rows
    }
    return Taxonomy(nodes, version.title)


def compare(previous: Taxonomy | None, new: Taxonomy) -> dict[str, Any]:
    """What loading ``new`` over ``previous`` changes, code by code."""
    old = previous.nodes if previous else {}
    changes: dict[str, Any] = {
        "added": sorted(set(new.nodes) - set(old)),
        "dropped": sorted(set(old) - set(new.nodes)),
        "renamed": {},
        "moved": {},
        "retired": [],
        "merged": {},
    }
    for code, node in sorted(new.nodes.items()):
        before = old.get(code)
        if node.merged_into is not None and (before is None or before.merged_into is None):
            changes["merged"][str(code)] = new.resolve(code)
        elif node.retired and (before is None or not before.retired):
            changes["retired"].append(code)
        if before is None:
            continue
        if node.name is not None and node.name != before.name:
            changes["renamed"][str(code)] = [before.name, node.name]
        if node.parent != before.parent:
            changes["moved"][str(code)] = [before.parent, node.parent]
    return changes


def _in_use(session: Session, codes: list[int]) -> list[int]:
    if not codes:
        return []
    listed = select(Listing.current_prdtypecode).where(Listing.current_prdtypecode.in_(codes))
    labelled = select(ListingLabel.prdtypecode).where(ListingLabel.prdtypecode.in_(codes))
    return sorted({int(c) for c in session.scalars(listed.union(labelled)) if c is not None})


def load_taxonomy(
    session: Session, taxonomy: Taxonomy, *, source: str, allow_drop: bool = False
) -> dict[str, Any]:
    """Store ``taxonomy`` as the current version; returns its id, hash and the changes.

    A code of the current taxonomy missing from the new one while listings or labels use it is
    refused (keep it, retired or merged) unless ``allow_drop``: it would silently become unknown.
    """
    previous_version = current_version(session)
    if previous_version is not None and previous_version.hash == taxonomy.version:
        return {"version": previous_version.id, "hash": taxonomy.version, "changed": False, "changes": {}}
    changes = compare(stored_taxonomy(session), taxonomy)
    used = _in_use(session, changes["dropped"])
    if used and not allow_drop:
        raise TaxonomyError(
            [
                f"codes {used} of the current taxonomy are missing from the new one while listings or "
                "labels use them: keep them, retired or merged into a leaf (or allow dropping them)"
            ]
        )
    leaves = [c for c in taxonomy.nodes if taxonomy.is_leaf(c)]
    row = TaxonomyVersion(
        hash=taxonomy.version,
        title=taxonomy.title[:500],
        source=source[:1000],
        loaded_at=utcnow(),
        codes=len(taxonomy.nodes),
        leaves=len(leaves),
        changes=changes,
    )
    session.add(row)
    session.flush()
    existing = {
        c.prdtypecode: c
        for c in session.scalars(select(Category).where(Category.prdtypecode.in_(list(taxonomy.nodes))))
    }
    for code, node in taxonomy.nodes.items():
        category = existing.get(code)
        if category is None:
            category = Category(prdtypecode=code, label=(node.name or str(code))[:200])
            session.add(category)
        category.label = (node.name or category.label)[:200]
        category.parent_code = node.parent
        category.level = taxonomy.level(code)
        category.path = taxonomy.path(code)[:1000]
        category.leaf = taxonomy.is_leaf(code)
        category.retired = node.retired
        category.merged_into = taxonomy.resolve(code) if node.merged_into is not None else None
        category.names = dict(node.names) or None
        category.taxonomy_version = row.id
    # codes merged by an earlier version into one this version merges further: follow the chain
    now_merged = [c for c, n in taxonomy.nodes.items() if n.merged_into is not None]
    earlier = select(Category).where(
        Category.merged_into.in_(now_merged), Category.taxonomy_version != row.id
    )
    for category in session.scalars(earlier) if now_merged else ():
        category.merged_into = taxonomy.resolve(int(category.merged_into or 0))
    session.flush()
    return {"version": row.id, "hash": taxonomy.version, "changed": True, "changes": changes}


def directory(session: Session) -> dict[int, CodeInfo]:
    """Every stored code's name, path and status against the current taxonomy."""
    version = current_version(session)
    info: dict[int, CodeInfo] = {}
    for row in session.scalars(select(Category)):
        known = version is None or row.taxonomy_version == version.id
        if row.merged_into is not None:  # even once dropped: its predictions read as the target
            status = "merged"
        elif not known:
            status = "unknown"
        elif row.retired:
            status = "retired"
        else:
            status = "live" if row.leaf else "department"
        info[row.prdtypecode] = CodeInfo(
            row.prdtypecode,
            row.label,
            row.path or row.label,
            row.level or 1,
            row.parent_code,
            bool(row.leaf),
            status,
            row.merged_into,
        )
    return info


def code_refusal(session: Session, code: int) -> CodeRefused | None:
    """Why ``code`` cannot take a new label or job now (None: it can: a live leaf)."""
    row = session.get(Category, code)
    if row is None:
        return CodeRefused(f"Unknown prdtypecode {code}: use one of GET /v1/categories.", "unknown")
    version = current_version(session)
    if version is None:
        return None  # no taxonomy loaded: any stored code, as before taxonomies
    if row.merged_into is None and row.taxonomy_version != version.id:
        return CodeRefused(
            f"prdtypecode {code} ({row.label}) is not in the current taxonomy (version {version.id}): "
            "use one of GET /v1/categories.",
            "unknown",
        )
    if row.merged_into is not None:
        target = session.get(Category, row.merged_into)
        name = f" ({target.label})" if target else ""
        return CodeRefused(
            f"prdtypecode {code} ({row.label}) was merged into {row.merged_into}{name}: "
            f"use {row.merged_into}.",
            "merged",
        )
    if row.retired:
        return CodeRefused(
            f"prdtypecode {code} ({row.label}) is retired: use one of GET /v1/categories.", "retired"
        )
    if not row.leaf:
        return CodeRefused(
            f"prdtypecode {code} ({row.label}) is a department, not a leaf: use one of its leaves.",
            "department",
        )
    return None


def assignable_categories(session: Session, include_all: bool = False) -> list[dict[str, Any]]:
    """The codes a reviewer can choose (live leaves), with names and paths; all codes on request."""
    items = []
    for code, info in sorted(directory(session).items()):
        if include_all or info.status == "live":
            items.append({"prdtypecode": code, "label": info.name, **info.view(), "level": info.level})
    return items
