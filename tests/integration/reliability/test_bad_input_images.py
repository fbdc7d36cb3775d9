"""Bad-input corpus, image loader: each bad image is that offer's ``unusable`` reason, never a
batch error; the good image in the same batch still decodes (defects 2, 4 and 9)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image

from services.image_encoder.images import ImageProblem, load_images
from shared.config import Settings


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (no pixel data: a bomb's signature)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "blue").save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "img"
    folder.mkdir()
    (folder / "good.jpg").write_bytes(jpeg())
    (folder / "bomb.png").write_bytes(png_header(20000, 20000))
    (folder / "big-header.png").write_bytes(png_header(7000, 7000))
    (folder / "truncated.jpg").write_bytes(jpeg()[:60])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_bytes(b"hello, I am not an image")
    return folder


CASES = [
    ("nul-in-uri", "file:///data/a%00b.jpg", {"forbidden", "fetch_error", "not_found"}),
    ("bad-bracket-host", "http://[::1", {"fetch_error", "forbidden"}),
    ("bad-port", "http://host:abc/x.jpg", {"fetch_error"}),
    ("port-out-of-range", "http://host:99999/x.jpg", {"fetch_error"}),
    ("bomb-header-20000x20000", "file://{root}/bomb.png", {"too_large"}),
    ("header-over-max-pixels", "file://{root}/big-header.png", {"too_large"}),
    ("truncated-jpeg", "file://{root}/truncated.jpg", {"corrupt"}),
    ("empty-file", "file://{root}/empty.jpg", {"corrupt"}),
    ("not-an-image", "file://{root}/text.jpg", {"corrupt"}),
    ("control-chars", "file://{root}/\x01\x02.jpg", {"not_found", "fetch_error", "forbidden"}),
]


@pytest.mark.parametrize(("uri", "reasons"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_bad_image_is_its_offers_reason_and_the_batch_goes_on(
    root: Path, uri: str, reasons: set[str]
) -> None:
    settings = Settings(image_roots=[root], image_allowed_hosts=["host"], image_max_pixels=40_000_000)
    good = f"file://{root}/good.jpg"
    async with httpx.AsyncClient() as client:
        results = await load_images([good, uri.format(root=root), good], settings, client)
    assert isinstance(results[0], Image.Image) and isinstance(results[2], Image.Image)
    problem = results[1]
    assert isinstance(problem, ImageProblem), problem
    assert problem.reason in reasons and problem.detail, problem


async def test_decoded_pixels_per_batch_are_budgeted(root: Path) -> None:
    """Defect 4: images past the batch's pixel budget are too_large before they are decoded."""
    settings = Settings(image_roots=[root], image_batch_max_pixels=64 * 48 * 2)
    good = f"file://{root}/good.jpg"
    async with httpx.AsyncClient() as client:
        results = await load_images([good, good, good], settings, client)
    assert [type(r).__name__ for r in results] == ["Image", "Image", "ImageProblem"]
    assert isinstance(results[2], ImageProblem) and results[2].reason == "too_large"
    assert "budget" in results[2].detail
