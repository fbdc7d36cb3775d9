"""A local stand-in translation server speaking Google's, LibreTranslate's and MyMemory's HTTP
protocols, for tests and benchmarks on machines without internet.

It "translates" deterministically with a small word table, can fail the next N calls, can be
slow or down, and counts calls. Point a worker at it with ``CATALOG_TRANSLATOR_URL=<url>``
(any path: the protocol is recognised from the request itself).
"""

from __future__ import annotations

import html
import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

WORDS: dict[str, str] = {
    # en
    "new": "neuf", "box": "boîte", "never": "jamais", "opened": "ouverte", "complete": "complète",
    "with": "avec", "manual": "notice", "the": "le", "and": "et", "for": "pour", "book": "livre",
    "game": "jeu", "toy": "jouet", "cover": "housse", "pool": "piscine", "garden": "jardin",
    # de
    "neue": "neuve", "nie": "jamais", "geöffnet": "ouverte", "komplett": "complète", "mit": "avec",
    "anleitung": "notice", "spiel": "jeu", "buch": "livre", "und": "et",
    # it
    "scatola": "boîte", "nuova": "neuve", "mai": "jamais", "aperta": "ouverte", "completa": "complète",
    "di": "de", "istruzioni": "notice", "gioco": "jeu", "libro": "livre",
    # es
    "caja": "boîte", "nueva": "neuve", "nunca": "jamais", "abierta": "ouverte", "con": "avec",
    "juego": "jeu",
}  # fmt: skip

_WORD = re.compile(r"\w+", re.UNICODE)


def fake_translate(text: str) -> str:
    """Word-by-word through :data:`WORDS`; other words are kept (names, numbers)."""
    return _WORD.sub(lambda m: WORDS.get(m.group(0).lower(), m.group(0)), text)


@dataclass
class StandinState:
    fail_next: int = 0
    """The next N requests answer ``fail_status``."""
    fail_status: int = 503
    down: bool = False
    """Every request answers ``fail_status`` (the provider is out)."""
    delay_s: float = 0.0
    calls: int = 0
    failures: int = 0
    texts: list[str] = field(default_factory=list)
    """Every text received (successful or not), in order."""
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return

    def do_GET(self) -> None:
        self._handle(parse_qs(urlsplit(self.path).query))

    def do_POST(self) -> None:
        params = parse_qs(urlsplit(self.path).query)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            body = self.rfile.read(length).decode("utf-8")
            params.update(parse_qs(body))
        self._handle(params)

    def _handle(self, params: dict[str, list[str]]) -> None:
        state = self.server.state
        text = (params.get("q") or [""])[0]
        with state.lock:
            state.calls += 1
            state.texts.append(text)
            failing = state.down or state.fail_next > 0
            if state.fail_next > 0:
                state.fail_next -= 1
            if failing:
                state.failures += 1
            delay = state.delay_s
        if delay:
            time.sleep(delay)
        if failing:
            self._send(state.fail_status, "text/plain", b"unavailable")
            return
        french = fake_translate(text)
        if "langpair" in params:  # MyMemory
            payload = {"responseData": {"translatedText": french}, "matches": []}
            self._send(200, "application/json", json.dumps(payload).encode())
        elif "target" in params:  # LibreTranslate
            self._send(200, "application/json", json.dumps({"translatedText": french}).encode())
        else:  # Google's mobile page
            page = f'<html><body><div class="t0">{html.escape(french)}</div></body></html>'
            self._send(200, "text/html; charset=utf-8", page.encode("utf-8"))

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs under concurrent clients (1 s stalls)

    def __init__(self, state: StandinState, host: str, port: int) -> None:
        super().__init__((host, port), _Handler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout) is expected here; anything else is reported."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class StandinTranslator:
    """The server, running in a thread on 127.0.0.1 (a free port unless told)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = StandinState()
        self._server = _Server(self.state, host, port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> StandinTranslator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def running_standin() -> Iterator[StandinTranslator]:
    """A started stand-in server, stopped on exit."""
    server = StandinTranslator().start()
    try:
        yield server
    finally:
        server.stop()
