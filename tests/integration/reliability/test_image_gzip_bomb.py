"""Issue 24 item 12: a gzip bomb from an allow-listed host is refused by its DECODED size while it
streams (a real HTTP server on 127.0.0.1), costs only its own offer, and never holds more than
about the image limit in memory; well-encoded photos still decode."""

from __future__ import annotations

import io
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
from PIL import Image

from services.image_encoder.http_body import BoundedDecoder
from services.image_encoder.images import ImageProblem, load_images
from shared.config import Settings
from tests.local_http import serving

LIMIT = 1 << 20  # image_max_bytes in these tests: 1 MiB
BOMB_ZEROS = 64 << 20  # what the bomb inflates to: 64 MiB


def compressed(data_chunks: Iterator[bytes], wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join(packer.compress(chunk) for chunk in data_chunks) + packer.flush()


def zeros(total: int) -> Iterator[bytes]:
    block = bytes(1 << 20)
    for _ in range(total // len(block)):
        yield block


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "green").save(buffer, "JPEG")
    return buffer.getvalue()


GZIP, DEFLATE, RAW = 31, 15, -15
BOMB = compressed(zeros(BOMB_ZEROS), GZIP)
ROUTES: dict[str, tuple[str, bytes]] = {
    "/good.jpg": ("", jpeg()),
    "/bomb.jpg": ("gzip", BOMB),
    "/bomb-twice.jpg": ("gzip, gzip", compressed(iter([BOMB]), GZIP)),
    "/bomb-deflate.jpg": ("deflate", compressed(zeros(BOMB_ZEROS), DEFLATE)),
    "/gzip.jpg": ("gzip", compressed(iter([jpeg()]), GZIP)),
    "/deflate.jpg": ("deflate", compressed(iter([jpeg()]), DEFLATE)),
    "/raw-deflate.jpg": ("deflate", compressed(iter([jpeg()]), RAW)),
    "/identity.jpg": ("identity", jpeg()),
    "/brotli.jpg": ("br", b"\x8b\x00\x80"),
    "/broken-gzip.jpg": ("gzip", b"this is not gzip at all"),
}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        encoding, body = ROUTES[self.path]
        self.send_response(200)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))  # small: the declared size passes
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(Handler) as url:
        yield url


def settings() -> Settings:
    return Settings(image_allowed_hosts=["127.0.0.1"], image_max_bytes=LIMIT, image_fetch_timeout_s=30)


@pytest.mark.parametrize("name", ["bomb", "bomb-twice", "bomb-deflate"])
async def test_a_compression_bomb_is_refused_by_decoded_size_and_costs_only_its_offer(
    server: str, name: str
) -> None:
    assert len(ROUTES[f"/{name}.jpg"][1]) < LIMIT  # the bytes on the wire are within the limit
    uris: list[str | None] = [f"{server}/good.jpg", f"{server}/{name}.jpg", f"{server}/good.jpg"]
    async with httpx.AsyncClient() as client:
        tracemalloc.start()
        try:
            results = await load_images(uris, settings(), client)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert isinstance(results[0], Image.Image) and isinstance(results[2], Image.Image)
    problem = results[1]
    assert isinstance(problem, ImageProblem) and problem.reason == "too_large", problem
    assert "once decoded" in problem.detail
    # Python-allocated bytes at their peak: a few times the limit, never the 64 MiB it inflates to
    assert peak < 8 * LIMIT, f"peak {peak} bytes"


def test_the_decoder_inflates_at_most_one_byte_past_the_limit() -> None:
    """The bound itself, chunk by chunk: the whole bomb in one chunk yields at most limit + 1
    bytes before it is refused (no 64 MiB intermediate)."""
    decoder = BoundedDecoder("gzip", LIMIT)
    produced = 0
    with pytest.raises(Exception, match="once decoded") as raised:
        for start in range(0, len(BOMB), 1 << 16):
            produced += len(decoder.feed(BOMB[start : start + (1 << 16)]))
    assert produced <= LIMIT and decoder.remaining >= 0
    assert raised.value.reason == "too_large"  # type: ignore[attr-defined]


async def test_encoded_photos_decode_and_bad_encodings_are_their_offers_reason(server: str) -> None:
    names = ["gzip", "deflate", "raw-deflate", "identity", "brotli", "broken-gzip"]
    async with httpx.AsyncClient() as client:
        results = await load_images([f"{server}/{n}.jpg" for n in names], settings(), client)
    assert [r.size if isinstance(r, Image.Image) else r.reason for r in results] == [
        (40, 30),
        (40, 30),
        (40, 30),
        (40, 30),
        "fetch_error",
        "corrupt",
    ]
