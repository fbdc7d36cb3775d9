"""One way to reach the database in the API: the ``DbSession`` dependency (services/api/deps.py).

No route, nor any helper of its module that a route calls, opens a session or a connection of
its own (``session_scope``, ``session_factory``, ``engine_for``). Background tasks of the API
(the scheduled drift computation) run outside any request and may.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ROUTES = sorted((ROOT / "services" / "api").glob("routes_*.py"))
OTHER_WAYS = {"session_scope", "session_factory", "engine_for", "in_session", "sessionmaker"}
VERBS = {"get", "post", "put", "patch", "delete", "api_route"}


def is_route(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(
        isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr in VERBS
        for d in fn.decorator_list
    )


def names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
    }


def other_ways(source: str) -> list[str]:
    """``route -> helper -> ...: name`` for every route reaching a session of its own."""
    tree = ast.parse(source)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    found = []
    for route in (f for f in functions.values() if is_route(f)):
        seen, todo = set(), [route.name]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            used = names_in(functions[name])
            found += [f"{route.name} -> {name}: {bad}" for bad in sorted(used & OTHER_WAYS)]
            todo += [n for n in used if n in functions]
    return found


def test_routes_reach_the_database_only_through_the_dependency() -> None:
    assert ROUTES, "no route modules found"
    found = [f"{p.name}: {v}" for p in ROUTES for v in other_ways(p.read_text(encoding="utf-8"))]
    assert found == []


def test_the_check_sees_a_session_opened_by_a_helper() -> None:
    source = (
        "def _read(url):\n"
        "    with session_scope(url) as s:\n"
        "        return s\n"
        "@router.get('/x')\n"
        "async def x(state):\n"
        "    return await run_in_threadpool(_read, state.url)\n"
    )
    assert other_ways(source) == ["x -> _read: session_scope"]
