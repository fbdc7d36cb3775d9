"""Authentication before the body: a wrong or missing token is refused before a byte is read.

FastAPI reads and parses a request body before it runs a route's dependencies, so with the token
check only a dependency, an anonymous client could make the API read, buffer and parse 16 MB
bodies (and learn of broken JSON: 422 before 401). This pure ASGI middleware finds the route a
request is for; when that route requires the token (``WriteAccess``), it checks the
``Authorization`` header first and answers 401 without calling ``receive`` at all. The
connection is closed after the answer when a body may follow, so it is never drained either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from .state import UNAUTHORIZED, ApiState, require_token, token_problem


def needs_token(route: APIRoute) -> bool:
    """Whether ``route`` depends (directly or through a dependency) on ``require_token``."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        if dependency.call is require_token:
            return True
        stack.extend(dependency.dependencies)
    return False


class AuthGate:
    """Refuse requests for token-protected routes with a JSON 401 before reading their body."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], state: ApiState) -> None:
        self.app, self.routes, self.state = app, routes, state
        self._table: list[tuple[re.Pattern[str], frozenset[str], bool]] | None = None

    def _route_table(self) -> list[tuple[re.Pattern[str], frozenset[str], bool]]:
        """Every route in routing order: path regex, methods, whether it needs the token."""
        if self._table is None:
            table = []
            for context in iter_route_contexts(self.routes):
                route, path = context.original_route, context.path
                if isinstance(route, APIRoute) and path:
                    table.append((compile_path(path)[0], frozenset(route.methods or ()), needs_token(route)))
            self._table = table
        return self._table

    def _protected_route(self, scope: Scope) -> bool:
        """Whether the route this request is routed to (the first full match) needs the token."""
        for regex, methods, protected in self._route_table():
            if scope["method"] in methods and regex.match(scope["path"]):
                return protected
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._protected_route(scope):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        authorization = headers.get(b"authorization")
        problem = token_problem(
            self.state.settings, authorization.decode("latin-1") if authorization else None
        )
        if problem is None:
            await self.app(scope, receive, send)
            return
        await send_unauthorized(send, problem, body_pending=_may_have_body(headers))


def _may_have_body(headers: dict[bytes, bytes]) -> bool:
    length = headers.get(b"content-length", b"0").strip()
    return b"transfer-encoding" in headers or length not in (b"", b"0")


async def send_unauthorized(send: Send, message: str, *, body_pending: bool) -> None:
    body = json.dumps({"error": "unauthorized", "message": message, "details": None}).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in UNAUTHORIZED.items()),
    ]
    if body_pending:  # the unread body is not drained: the server closes the connection
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
