"""``shared`` holds what several parts use: a module with one user outside ``shared`` lives with it.

A user is a part of the code base outside ``shared``: a service package (``services.<kind>``) or
another top-level package (``training``, ``deploy``, ``tools``); tests are not users. A module
of ``shared`` with exactly one such user belongs to that user. Fine: two or more users, or a
module that other ``shared`` modules import (it cannot move out: ``shared`` imports nothing
above it), or none at all (package ``__init__``, Alembic's migrations).

Run as a script, it lists every ``shared`` module with its users.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.unit.architecture.test_import_rule import imported_modules, module_name

ROOT = Path(__file__).resolve().parents[3]
USERS = ("services", "training", "deploy", "tools")


def user_of(module: str) -> str:
    """``services.<kind>`` for a service's module, else its top-level package."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "services" and len(parts) > 1 else parts[0]


def defines_something(path: Path) -> bool:
    """False for a docstring-only module (a package's ``__init__``): nothing to use there."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)) for n in body)


def shared_users(root: Path = ROOT) -> dict[str, tuple[set[str], set[str]]]:
    """Every ``shared`` module: (users outside ``shared``, importers inside ``shared``)."""
    modules = {module_name(p, root) for p in sorted((root / "shared").rglob("*.py")) if defines_something(p)}
    outside: dict[str, set[str]] = defaultdict(set)
    inside: dict[str, set[str]] = defaultdict(set)
    for top in ("shared", *USERS):
        for path in sorted((root / top).rglob("*.py")) if (root / top).is_dir() else []:
            importer = module_name(path, root)
            for _, imported in imported_modules(path, root):
                while imported and imported not in modules:  # `from shared.x import name`
                    imported = imported.rpartition(".")[0]
                if not imported or imported == importer:
                    continue
                if top == "shared":
                    inside[imported].add(importer)
                else:
                    outside[imported].add(user_of(importer))
    return {m: (outside[m], inside[m]) for m in sorted(modules)}


def single_user_modules(root: Path = ROOT) -> list[str]:
    return [
        f"{module}: used only by {next(iter(users))}"
        for module, (users, importers) in shared_users(root).items()
        if len(users) == 1 and not importers
    ]


def test_no_shared_module_has_a_single_user_outside_shared() -> None:
    assert single_user_modules() == []


def test_the_check_sees_a_single_user_and_lets_the_rest_pass(tmp_path: Path) -> None:
    files = {
        "shared/__init__.py": "",
        "shared/lonely.py": "X = 1\n",
        "shared/common.py": "Y = 1\n",
        "shared/base.py": "Z = 1\n",
        "shared/uses_base.py": "from shared.base import Z\n",
        "services/__init__.py": "",
        "services/cli/__init__.py": "",
        "services/cli/a.py": "from shared.lonely import X\nfrom shared import common\n",
        "services/cli/b.py": "def later():\n    from shared.lonely import X\n    return X\n",
        "services/api/__init__.py": "",
        "services/api/routes.py": "from shared.common import Y\nfrom shared.base import Z\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    # lonely: two modules, one user (services.cli); common: two users; base: used inside shared.
    assert single_user_modules(tmp_path) == ["shared.lonely: used only by services.cli"]


if __name__ == "__main__":
    for name, (users, importers) in shared_users().items():
        print(f"{len(users)} {name}: {', '.join(sorted(users)) or '-'}; in shared: {len(importers)}")
