"""``/v1/classify`` with a photo the models cannot use (issue 24, API item 6), through the wired
API and the real online classifier (ONNX Runtime, a tiny repository built for the test).

Before, each of these answered 200 with the class prior and ``"modalities": ["image"]``.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from services.cli.wiring import api_app
from shared.config import Settings
from tests.conftest import REDIS_URL
from tests.unit.explain.repo import build_explain_repository

TOKEN = "photo-token"


def jpeg(size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), 200, dtype=np.uint8)).save(out, "JPEG")
    return out.getvalue()


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) announces ``width`` x ``height``."""
    data = bytearray(jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


UNUSABLE = {
    "not-an-image": (b"this is text, not a photo" * 4, "corrupt"),
    "truncated-jpeg": (jpeg(256)[:400], "corrupt"),
    "jpeg-65500x65500": (jpeg_claiming(65500, 65500), "too_large"),
    "png-20000x20000": (png_claiming(20000, 20000), "too_large"),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    import uuid

    import redis

    tmp: Path = tmp_path_factory.mktemp("classify-photo")
    build_explain_repository(tmp / "models")
    prefix = f"photo-{uuid.uuid4().hex[:8]}:"
    settings = Settings(
        redis_url=REDIS_URL,
        stream_prefix=prefix,
        database_url=f"sqlite:///{tmp / 'photo.db'}",
        model_repository=tmp / "models",
        translator="none",
        api_token=TOKEN,
        classify_timeout_s=120,
        var_dir=tmp / "var",
    )
    with TestClient(api_app(settings), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c
    r = redis.Redis.from_url(REDIS_URL)
    keys = list(r.scan_iter(match=f"{prefix}*"))
    if keys:
        r.delete(*keys)
    r.close()


def classify(client: TestClient, photo: bytes, title: str | None = None) -> tuple[int, dict[str, Any]]:
    body = {"image_base64": base64.b64encode(photo).decode()}
    if title is not None:
        body["title"] = title
    response = client.post("/v1/classify", json=body)
    return response.status_code, response.json()


def test_a_usable_photo_counts(client: TestClient) -> None:
    status, body = classify(client, jpeg())
    assert status == 200, body
    assert body["modalities"] == ["image"] and body["image_unused_reason"] is None


@pytest.mark.parametrize("case", list(UNUSABLE))
def test_an_unusable_photo_alone_is_a_422_naming_why(client: TestClient, case: str) -> None:
    photo, reason = UNUSABLE[case]
    status, body = classify(client, photo)
    assert status == 422, body
    assert body["error"] == "invalid_input" and f"The photo cannot be used ({reason})" in body["message"]


@pytest.mark.parametrize("case", list(UNUSABLE))
def test_with_a_title_the_answer_says_the_photo_was_not_used(client: TestClient, case: str) -> None:
    photo, reason = UNUSABLE[case]
    status, body = classify(client, photo, title="Piscine gonflable")
    assert status == 200, body
    assert body["modalities"] == ["text"] and body["image_unused_reason"] == reason
    assert len(body["top_k"]) == 3
