"""A marketplace's category tree: codes, names, parents, retirements and merges (docs/taxonomy.md).

Pure data and rules, no I/O: :mod:`shared.taxonomy.files` reads the JSON/CSV files and
:mod:`shared.taxonomy.store` keeps the tree in the ``categories`` table. A *leaf* is a node with
no children (only leaves are labels and model classes); departments are inner nodes. A merged
code is read as its target (chains resolved); a retired or merged code takes no new labels.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

PATH_SEPARATOR = " > "
UNKNOWN_VERSION = "unknown"
"""What a model manifest says when it recorded no taxonomy (trained before versions existed)."""


class TaxonomyError(ValueError):
    """A taxonomy that cannot be loaded; ``problems`` lists every reason found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, eq=True)
class Node:
    code: int
    name: str | None
    """None only for a merge stub (an old code listed by ``merges`` alone): its stored name stays."""
    parent: int | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    retired: bool = False
    merged_into: int | None = None

    def canonical(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "parent": self.parent,
            "names": dict(sorted(self.names.items())),
            "retired": self.retired,
            "merged_into": self.merged_into,
        }


@dataclass(frozen=True)
class Taxonomy:
    """A validated tree (construct with :meth:`build`)."""

    nodes: Mapping[int, Node]
    title: str = ""

    @classmethod
    def build(cls, nodes: Iterable[Node], title: str = "") -> Taxonomy:
        """Check and build: unique codes, parents exist, no cycles, merge targets exist and are
        live, no live node under a retired or merged one. Raises :class:`TaxonomyError`."""
        by_code: dict[int, Node] = {}
        problems: list[str] = []
        for node in nodes:
            if node.code in by_code:
                problems.append(f"code {node.code} is listed twice")
            by_code[node.code] = node
        taxonomy = cls(by_code, title)
        problems += taxonomy._problems()
        if problems:
            raise TaxonomyError(problems)
        return taxonomy

    def _problems(self) -> list[str]:
        problems: list[str] = []
        for node in self.nodes.values():
            if node.name is not None and not node.name.strip():
                problems.append(f"code {node.code} has an empty name")
            if node.parent is not None and node.parent not in self.nodes:
                problems.append(f"code {node.code}: parent {node.parent} is not in the taxonomy")
            if node.merged_into is not None:
                if node.merged_into not in self.nodes:
                    problems.append(f"code {node.code}: merge target {node.merged_into} is unknown")
                elif node.merged_into == node.code:
                    problems.append(f"code {node.code} is merged into itself")
        if problems:
            return problems
        for node in self.nodes.values():
            if self._cycle(node.code, lambda n: n.parent):
                problems.append(f"code {node.code}: its parents form a cycle")
            elif node.merged_into is not None and self._cycle(node.code, lambda n: n.merged_into):
                problems.append(f"code {node.code}: its merges form a cycle")
        if problems:
            return problems
        for node in self.nodes.values():
            if node.merged_into is not None:
                target = self.nodes[self.resolve(node.code)]
                if target.retired:
                    problems.append(f"code {node.code} is merged into {target.code}, which is retired")
                elif not self.is_leaf(target.code):
                    problems.append(f"code {node.code} is merged into {target.code}, which is not a leaf")
            if self.live(node.code) and node.parent is not None and not self.live(node.parent):
                problems.append(f"code {node.code} is live under retired or merged {node.parent}")
            if node.name is None and node.merged_into is None:
                problems.append(f"code {node.code} has no name")
        return problems

    def _cycle(self, code: int, step: object) -> bool:
        seen = {code}
        node = self.nodes[code]
        while (nxt := step(node)) is not None:  # type: ignore[operator]
            if nxt in seen:
                return True
            seen.add(nxt)
            node = self.nodes[nxt]
        return False

    @cached_property
    def children(self) -> dict[int, list[int]]:
        kids: dict[int, list[int]] = {}
        for node in sorted(self.nodes.values(), key=lambda n: n.code):
            if node.parent is not None:
                kids.setdefault(node.parent, []).append(node.code)
        return kids

    @cached_property
    def version(self) -> str:
        """Content hash (12 hex digits): the same tree has the same version whatever its file."""
        body = json.dumps([self.nodes[c].canonical() for c in sorted(self.nodes)], sort_keys=True)
        return hashlib.sha256(body.encode("utf-8")).hexdigest()[:12]

    def is_leaf(self, code: int) -> bool:
        return code in self.nodes and code not in self.children

    def live(self, code: int) -> bool:
        node = self.nodes.get(code)
        return node is not None and not node.retired and node.merged_into is None

    def live_leaves(self) -> list[int]:
        return [c for c in sorted(self.nodes) if self.is_leaf(c) and self.live(c)]

    def resolve(self, code: int) -> int:
        """The code a (possibly merged, chains followed) code is read as now."""
        node = self.nodes.get(code)
        while node is not None and node.merged_into is not None:
            code = node.merged_into
            node = self.nodes.get(code)
        return code

    def status(self, code: int) -> str:
        """live, department, retired, merged or unknown."""
        node = self.nodes.get(code)
        if node is None:
            return "unknown"
        if node.merged_into is not None:
            return "merged"
        if node.retired:
            return "retired"
        return "live" if self.is_leaf(code) else "department"

    def ancestry(self, code: int) -> list[int]:
        """Codes from the root down to ``code`` (inclusive)."""
        chain: list[int] = []
        current: int | None = code
        while current is not None and current in self.nodes:
            chain.append(current)
            current = self.nodes[current].parent
        return chain[::-1]

    def name(self, code: int, language: str | None = None) -> str:
        node = self.nodes.get(code)
        if node is None:
            return str(code)
        if language and language in node.names:
            return node.names[language]
        return node.name if node.name is not None else str(code)

    def path(self, code: int, language: str | None = None) -> str:
        return PATH_SEPARATOR.join(self.name(c, language) for c in self.ancestry(code))

    def level(self, code: int) -> int:
        return len(self.ancestry(code))

    def outline(self, *, tree: bool = False, language: str | None = None) -> list[str]:
        """One line per code: ``code  path  [status]`` (flat), or indented under its parent."""
        lines: list[str] = []

        def walk(code: int, depth: int) -> None:
            status = self.status(code)
            mark = "" if status in ("live", "department") else f"  [{status}"
            if status == "merged":
                mark += f" into {self.resolve(code)}"
            mark += "]" if mark else ""
            lines.append(f"{'  ' * depth}{code}  {self.name(code, language)}{mark}")
            for child in self.children.get(code, []):
                walk(child, depth + 1)

        if tree:
            for root in sorted(c for c, n in self.nodes.items() if n.parent is None):
                walk(root, 0)
            return lines
        for code in sorted(self.nodes):
            status = self.status(code)
            lines.append(f"{code}\t{self.path(code, language)}\t{status}")
        return lines
