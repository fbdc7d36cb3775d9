"""Slow clients against the API as ``catalog api`` serves it (uvicorn with ``server.py``'s limits,
on a free loopback port): a body or headers sent a byte a second, too many connections.

The limits are set small here (1 s); each assertion only bounds the close generously (60 s), so
nothing depends on the machine's speed. Before, a 1 byte/s body was still open after 150 s.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from services.api.server import uvicorn_config
from services.cli.wiring import api_app
from shared.config import Settings
from tests.conftest import REDIS_URL

TOKEN = "slow-token"
BOUND_S = 60.0


@pytest.fixture
def settings(tmp_path: Path, redis_prefix: str) -> Settings:
    return Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        database_url=f"sqlite:///{tmp_path / 'slow.db'}",
        api_token=TOKEN,
        model_repository=tmp_path / "models",
        var_dir=tmp_path / "var",
        api_header_timeout_s=1.0,
        api_body_timeout_s=1.0,
        api_min_body_rate=1000,
        api_max_connections=3,
    )


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[tuple[str, int]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(api_app(settings), settings, "127.0.0.1", port, log_level="error"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.05)
    try:
        yield ("127.0.0.1", port)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


@pytest.fixture
def address(settings: Settings) -> Iterator[tuple[str, int]]:
    with serve(settings) as where:
        yield where


def trickle(address: tuple[str, int], head: bytes, drip: bytes = b"x") -> tuple[bytes, float]:
    """Send ``head``, then one byte of ``drip`` a second until the server closes the connection
    (or ``BOUND_S`` passes): what the server answered, and after how long it closed."""
    started = time.monotonic()
    answer = b""
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(head)
        sock.settimeout(1.0)
        while time.monotonic() - started < BOUND_S:
            try:
                sock.sendall(drip)
            except OSError:  # closed by the server (reset or broken pipe)
                break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
        else:
            pytest.fail(f"the connection was still open after {BOUND_S:.0f} s; got {answer[:200]!r}")
    return answer, time.monotonic() - started


def test_a_body_sent_a_byte_a_second_gets_408_and_the_connection_closes(address: tuple[str, int]) -> None:
    head = (
        b"POST /v1/listings HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
    )
    answer, _ = trickle(address, head)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"request_timeout" in answer and b"CATALOG_API_BODY_TIMEOUT_S" in answer


def test_headers_sent_a_byte_a_second_close_the_connection(address: tuple[str, int]) -> None:
    answer, _ = trickle(address, b"GET /health HTTP/1.1\r\nHost: api\r\nX-Slow: ")
    assert answer == b""  # nothing to answer: no request was ever complete


def test_an_idle_connection_is_closed_too(address: tuple[str, int]) -> None:
    """A connection that never sends a byte (the cheapest way to hold a descriptor)."""
    with socket.create_connection(address, timeout=BOUND_S) as sock:
        assert sock.recv(1024) == b""


def test_an_unauthenticated_body_is_refused_without_waiting_for_it(address: tuple[str, int]) -> None:
    """16 MB announced, none sent: the 401 comes at once and the connection closes (the body is
    neither read nor waited for)."""
    head = b"POST /v1/listings HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: 16000000\r\n\r\n"
    with socket.create_connection(address, timeout=BOUND_S) as sock:
        sock.sendall(head)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401") and b"connection: close" in answer.lower(), answer[:300]


def test_connections_beyond_the_cap_get_503(settings: Settings) -> None:
    """CATALOG_API_MAX_CONNECTIONS=3: three idle connections held (their header deadline long
    here), the fourth is answered 503 instead of joining them."""
    with serve(settings.model_copy(update={"api_header_timeout_s": 120.0})) as address:
        _beyond_the_cap(address)


def _beyond_the_cap(address: tuple[str, int]) -> None:
    held = [socket.create_connection(address, timeout=5) for _ in range(3)]
    try:
        time.sleep(0.2)  # not a timing assert: the server accepts them in order anyway
        with socket.create_connection(address, timeout=BOUND_S) as sock:
            sock.sendall(b"GET /v1/categories HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 503"), answer[:300]
    finally:
        for sock in held:
            sock.close()
