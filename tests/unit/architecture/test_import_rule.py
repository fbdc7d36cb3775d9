"""The import rule of docs/architecture.md, checked on every module's imports (AST, no new tool).

- ``shared`` imports nothing of ours outside ``shared``;
- ``training`` imports only ``shared`` (and itself);
- each ``services/<kind>`` imports only ``shared`` (and itself);
- the composition root ``services/cli`` and the packages it runs (the demo ``services/demo``, the
  benchmarks ``services/bench``) alone may import the other services and ``training``.

- nothing shipped imports ``tools`` (stand-ins, the fault-injection suite) or ``tests``: neither
  is in the wheel.

Function-level imports count like any other: the rule cannot be dodged by importing late.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
OURS = ("shared", "services", "training")
NOT_SHIPPED = ("tools", "tests")
COMPOSITION_ROOT = ("services.cli", "services.demo", "services.bench")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str]]:
    """Every absolute module an import statement of ``path`` names (relative ones resolved)."""
    for lineno, target, names in import_statements(path, root):
        yield lineno, target
        for name in names:  # `from services import fusion` names a package
            yield lineno, f"{target}.{name}"


def import_statements(
    path: Path, root: Path = ROOT, *, run_time: bool = False
) -> Iterator[tuple[int, str, list[str]]]:
    """Each import statement of ``path``: its line, the module (relative ones resolved) and the
    names a ``from`` import takes from it.

    With ``run_time``, without the ``if TYPE_CHECKING:`` blocks (never run; their ``else`` does).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    nodes: list[ast.AST] = [tree]
    while nodes:
        node = nodes.pop()
        if run_time and isinstance(node, ast.If) and _is_type_checking(node.test):
            nodes.extend(node.orelse)
            continue
        nodes.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target, [alias.name for alias in node.names]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def layer(module: str) -> str:
    """``shared``, ``training``, ``services.cli`` (and the other composition packages) or
    ``services.<kind>`` (or ``''``: not ours)."""
    parts = module.split(".")
    if parts[0] in ("shared", "training"):
        return parts[0]
    if parts[0] == "services":
        return ".".join(parts[:2]) if len(parts) > 1 else "services"
    return ""


def allowed(importer: str, imported: str) -> bool:
    source, target = layer(importer), layer(imported)
    if not target or target == "services" or source == target:
        return True
    if source == "shared":
        return False
    if source == "training":
        return target == "shared"
    if source in COMPOSITION_ROOT:
        return True
    return target == "shared"  # services.<kind>


def violations(root: Path = ROOT) -> list[str]:
    found = []
    for top in OURS:
        for path in sorted((root / top).rglob("*.py")) if (root / top).is_dir() else []:
            importer = module_name(path, root)
            for lineno, imported in imported_modules(path, root):
                top_level = imported.split(".")[0]
                if top_level in NOT_SHIPPED or (top_level in OURS and not allowed(importer, imported)):
                    found.append(f"{path.relative_to(root)}:{lineno}: {importer} imports {imported}")
    return found


def test_every_module_follows_the_import_rule() -> None:
    assert violations() == []


@pytest.mark.parametrize(
    ("importer", "imported", "ok"),
    [
        ("shared.broker", "services.cli.registry", False),
        ("shared.db.session", "training.data", False),
        ("training.pipeline", "services.language.logic", False),
        ("training.pipeline", "shared.ml.preprocess", True),
        ("services.fusion.worker", "services.writer.store", False),
        ("services.fusion.worker", "services.fusion.join", True),
        ("services.api.app", "training.evaluate", False),
        ("services.demo.run", "training.pipeline", True),
        ("services.bench.pipeline", "services.api.ingest", True),
        ("services.cli.wiring", "services.api.app", True),
    ],
)
def test_the_rule_itself(importer: str, imported: str, ok: bool) -> None:
    assert allowed(importer, imported) is ok


def test_an_upward_import_added_inside_a_function_is_caught(tmp_path: Path) -> None:
    """A deliberately added upward import fails the check, even hidden in a function."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "__init__.py").write_text("")
    (tmp_path / "shared" / "sneaky.py").write_text(
        "def later():\n    from services.cli import main\n    return main\n"
    )
    (tmp_path / "services" / "fusion").mkdir(parents=True)
    (tmp_path / "services" / "fusion" / "worker.py").write_text("from ..writer import store\n")
    (tmp_path / "services" / "cli").mkdir()
    (tmp_path / "services" / "cli" / "main.py").write_text("import tools.chaos\n")
    found = violations(tmp_path)
    assert any("shared/sneaky.py:2: shared.sneaky imports services.cli" in v for v in found)
    assert any("services.cli.main imports tools.chaos" in v for v in found)
    assert any("services.fusion.worker imports services.writer" in v for v in found)


# --- no import cycle between modules ----------------------------------------------------------


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports when it runs (top-level and inside functions).

    ``from a import b`` is an edge to ``a.b`` when that is a module (``a``'s ``__init__`` runs
    anyway, as the parent of every ``a.*``), else to ``a``; ``import a.b`` is an edge to ``a.b``.
    """
    paths = {
        module_name(p, root): p for top in OURS if (root / top).is_dir() for p in (root / top).rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        edges = graph.setdefault(name, set())
        for _, target, names in import_statements(path, root, run_time=True):
            submodules = {f"{target}.{n}" for n in names} & paths.keys()
            edges |= submodules
            if target in paths and (not names or len(submodules) < len(names)):
                edges.add(target)
        edges.discard(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected set of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = {stack.pop()}
            while node not in component:
                component.add(stack.pop())
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(shortest_cycle(graph, component) for component in components)


def shortest_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """The shortest way from the component's first module back to it (breadth first)."""
    start = min(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{start} is in a strongly connected set but on no cycle")


def test_no_import_cycle_between_modules() -> None:
    found = [" -> ".join(cycle) for cycle in cycles(import_graph())]
    assert found == [], "import cycles (break each by moving code or injecting it):\n" + "\n".join(found)


def test_a_cycle_through_a_function_level_import_is_found_and_type_checking_is_not(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "__init__.py").write_text("")
    (tmp_path / "shared" / "a.py").write_text("from shared import b\n")
    (tmp_path / "shared" / "b.py").write_text("def later():\n    from .c import x\n")
    (tmp_path / "shared" / "c.py").write_text("import shared.a\nx = 1\n")
    (tmp_path / "shared" / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from shared import e\n"
    )
    (tmp_path / "shared" / "e.py").write_text("from shared import d\n")
    assert cycles(import_graph(tmp_path)) == [["shared.a", "shared.b", "shared.c", "shared.a"]]


# --- production code never imports test support ----------------------------------------------

TEST_SUPPORT = ("tests", "tools")
"""``tests/`` and ``tools/`` (stand-ins, the fault-injection harness) are not in the wheel."""


def support_imports(root: Path = ROOT) -> list[str]:
    found = []
    for top in OURS:
        for path in sorted((root / top).rglob("*.py")) if (root / top).is_dir() else []:
            for lineno, imported in imported_modules(path, root):
                if imported.split(".")[0] in TEST_SUPPORT:
                    found.append(f"{path.relative_to(root)}:{lineno}: imports {imported}")
    return found


def test_production_code_never_imports_tests_or_tools() -> None:
    assert support_imports() == []


def test_an_import_of_test_support_is_caught(tmp_path: Path) -> None:
    (tmp_path / "services" / "cli").mkdir(parents=True)
    (tmp_path / "services" / "cli" / "chaos.py").write_text("def run():\n    import tools.chaos\n")
    (tmp_path / "training").mkdir()
    (tmp_path / "training" / "data.py").write_text("from tests.support import factories\n")
    assert support_imports(tmp_path) == [
        "services/cli/chaos.py:2: imports tools.chaos",
        "training/data.py:1: imports tests.support",
        "training/data.py:1: imports tests.support.factories",
    ]
