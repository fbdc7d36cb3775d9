"""Request body limits, size and time, enforced before anything parses or authenticates the body.

A pure ASGI middleware (outside the token check): a declared ``Content-Length`` over the limit
is refused at once with 413, and a body sent without one (chunked) is counted while it streams
in and cut off at the limit, so an oversized body never reaches FastAPI's parser (whose peak
memory is a multiple of the body) nor costs a token comparison.

A body must also arrive in time: the API waits for it at most ``timeout_s`` plus one second per
``min_rate`` bytes received (time the server itself spends elsewhere does not count), or the
request gets 408 and its connection is closed. A client sending a byte a
second no longer holds a connection, a task and its buffer forever (uvicorn itself bounds the
request line and headers: see ``server.py``).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large_message(limit: int) -> str:
    return f"The request body is larger than {limit} bytes (CATALOG_API_MAX_BODY_BYTES)."


def slow_body_message(timeout_s: float, min_rate: float) -> str:
    return (
        f"The request body did not arrive in time ({timeout_s:g} s plus 1 s per {min_rate:g} bytes: "
        "CATALOG_API_BODY_TIMEOUT_S, CATALOG_API_MIN_BODY_RATE)."
    )


def _too_large(limit: int) -> tuple[dict[str, Any], bytes]:
    body = json.dumps({"error": "too_large", "message": too_large_message(limit), "details": None}).encode()
    start = {
        "type": "http.response.start",
        "status": 413,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    return start, body


class BodyLimit:
    """Refuse request bodies larger than ``max_bytes`` with a JSON 413."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, timeout_s: float = 30.0, min_rate: float = 16384
    ) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.timeout_s, self.min_rate = timeout_s, min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        started = False
        complete = False
        waited = 0.0  # time spent waiting for the client (not the server's own delays)

        async def counted() -> Message:
            nonlocal seen, complete, waited
            if complete:  # after the body: waiting for a disconnect is not bounded here
                return await receive()
            allowed = self.timeout_s + seen / self.min_rate - waited
            began = time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(allowed, 0.001))
            except TimeoutError:  # the app's error handler turns it into the 408
                raise HTTPException(
                    408, slow_body_message(self.timeout_s, self.min_rate), headers={"Connection": "close"}
                ) from None
            finally:
                waited += time.monotonic() - began
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > self.max_bytes:  # the app's error handler turns it into the 413
                    raise HTTPException(413, too_large_message(self.max_bytes))
            else:
                complete = True
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except HTTPException as exc:
            if exc.status_code != 413 or started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        start, body = _too_large(self.max_bytes)
        await send(start)
        await send({"type": "http.response.body", "body": body})
