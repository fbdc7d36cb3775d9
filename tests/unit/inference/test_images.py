"""Image loading under limits: every ImageMissingReason from files (http is integration)."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from services.image_encoder.images import ImageProblem, fetch_image_bytes, load_images, resolve_file
from shared.config import Settings


def jpeg(size: tuple[int, int] = (40, 30), color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "ok.jpg").write_bytes(jpeg())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "big.jpg").write_bytes(jpeg((300, 300)))
    (tmp_path / "secret.jpg").write_bytes(jpeg())
    (folder / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    return folder


async def load_one(uri: str | None, settings: Settings) -> Image.Image | ImageProblem:
    async with httpx.AsyncClient() as client:
        return (await load_images([uri], settings, client))[0]


@pytest.mark.parametrize(
    ("uri", "reason", "limits"),
    [
        (None, "no_image", {}),
        ("", "no_image", {}),
        ("file://{root}/missing.jpg", "not_found", {}),
        ("file://{root}/broken.jpg", "corrupt", {}),
        ("file://{root}/big.jpg", "too_large", {"image_max_pixels": 300 * 299}),
        ("file://{root}/big.jpg", "too_large", {"image_max_bytes": 100}),
        ("file://{root}/../secret.jpg", "forbidden", {}),
        ("file://{root}/link.jpg", "forbidden", {}),
        ("/etc/passwd", "forbidden", {}),
        ("ftp://example.com/a.jpg", "forbidden", {}),
        ("http://evil.example.com/a.jpg", "forbidden", {}),
        ("file://otherhost/{root}/ok.jpg", "forbidden", {}),
    ],
)
async def test_each_missing_reason(root: Path, uri: str | None, reason: str, limits: dict) -> None:
    settings = Settings(image_roots=[root], **limits)
    result = await load_one(uri.format(root=root) if uri else uri, settings)
    assert isinstance(result, ImageProblem)
    assert result.reason == reason, result.detail


async def test_file_uri_and_relative_path_load(root: Path) -> None:
    settings = Settings(image_roots=[root])
    for uri in (f"file://{root}/ok.jpg", "ok.jpg", str(root / "ok.jpg")):
        image = await load_one(uri, settings)
        assert isinstance(image, Image.Image) and image.size == (40, 30)


def test_resolve_file_accepts_second_root(tmp_path: Path, root: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    assert resolve_file(f"file://{other}/x.jpg", [root, other]) == (other / "x.jpg").resolve()


async def test_fetch_rejects_unlisted_host_before_connecting() -> None:
    settings = Settings(image_allowed_hosts=["images.example.com"])
    async with httpx.AsyncClient() as client:
        result = await fetch_image_bytes("https://127.0.0.1:1/x.jpg", settings, client)
    assert isinstance(result, ImageProblem) and result.reason == "forbidden"
