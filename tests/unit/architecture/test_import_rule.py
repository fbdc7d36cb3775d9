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
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:  # `from services import fusion` names a package
                yield node.lineno, f"{target}.{alias.name}"


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
        ("training.pipeline", "shared.preprocess", True),
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
