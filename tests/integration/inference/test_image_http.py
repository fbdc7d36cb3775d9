"""Images over http(s) from a real local server: limits and every failure reason."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
from PIL import Image

from services.image_encoder.images import ImageProblem, load_images
from shared.config import Settings
from tests.local_http import serving


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), "orange").save(buffer, "JPEG")
    return buffer.getvalue()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        routes = {
            "/ok.jpg": (200, jpeg()),
            "/big.jpg": (200, b"x" * 5000),
            "/broken.jpg": (200, b"not an image"),
            "/error.jpg": (500, b"boom"),
            "/moved.jpg": (302, b""),
        }
        if self.path == "/slow.jpg":
            time.sleep(1.5)
        status, body = routes.get(self.path, (404, b"no"))
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "http://elsewhere.example.com/x.jpg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[str]:
    with serving(Handler) as url:
        yield url


async def test_http_images(server: str) -> None:
    settings = Settings(image_allowed_hosts=["127.0.0.1"], image_max_bytes=4000, image_fetch_timeout_s=0.5)
    names = ["ok", "missing", "big", "broken", "error", "moved", "slow"]
    uris: list[str | None] = [f"{server}/{name}.jpg" for name in names]
    uris.append(f"{server.replace('127.0.0.1', 'localhost')}/ok.jpg")  # host not allowed
    async with httpx.AsyncClient() as client:
        results = await load_images(uris, settings, client)
    assert isinstance(results[0], Image.Image) and results[0].size == (30, 20)
    reasons = [r.reason if isinstance(r, ImageProblem) else "ok" for r in results]
    assert reasons == [
        "ok",
        "not_found",
        "too_large",
        "corrupt",
        "fetch_error",
        "fetch_error",
        "timeout",
        "forbidden",
    ]
