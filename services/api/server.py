"""How the API is served: uvicorn with every connection bounded in time, size and number.

uvicorn bounds the request line and headers in size (``h11_max_incomplete_event_size``) and an
idle keep-alive connection in time, but not the time a client takes to send its headers: a
client sending one byte a second held its connection (and file descriptor) forever.
:class:`BoundedH11Protocol` closes a connection whose request headers are not complete within
``api_header_timeout_s`` of the connection (or of the previous response); the body's own
deadline is :class:`services.api.limits.BodyLimit`'s. ``limit_concurrency`` caps connections.
Behind a reverse proxy, the proxy should bound slow clients too (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from shared.config import Settings


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's line and headers."""

    header_timeout_s = 10.0  # set per server by ``uvicorn_config`` (a subclass per settings)
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_overdue)

    def _headers_overdue(self) -> None:
        """Close the connection if it is still waiting for a request's headers."""
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def uvicorn_config(app: Any, settings: Settings, host: str, port: int, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration of the API: its limits come from ``settings``."""
    protocol = type("BoundedH11", (BoundedH11Protocol,), {"header_timeout_s": settings.api_header_timeout_s})
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        timeout_keep_alive=settings.api_keep_alive_s,
        limit_concurrency=settings.api_max_connections,
        h11_max_incomplete_event_size=settings.api_max_header_bytes,
        **options,
    )
