"""``GET /v1/listings/{id}/explanation`` through the wired API: real Redis, PostgreSQL, ONNX Runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient
from PIL import Image

from services.cli.wiring import api_app
from services.writer.worker import write_batch
from shared.config import Settings
from tests.conftest import REDIS_URL
from tests.support.factories import classified_event
from tests.unit.explain.repo import build_explain_repository

TOKEN = "explain-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def settings(redis_prefix: str, postgres_url: str, tmp_path: Path) -> Settings:
    root = tmp_path / "model_repository"
    build_explain_repository(root)
    return Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        database_url=postgres_url,
        model_repository=root,
        translator="none",
        image_roots=[tmp_path],
        explain_grid=4,
        api_token=TOKEN,
    )


def photo(path: Path) -> str:
    """Grey, a yellow spot (2583's colour, like the title) in the bottom-right cell of a 4x4 grid."""
    pixels = np.full((80, 80, 3), 128, dtype=np.uint8)
    pixels[60:80, 60:80] = (250, 250, 10)
    Image.fromarray(pixels).save(path)
    return f"file://{path}"


def test_explanation_is_computed_once_per_submission_and_cached(settings: Settings, tmp_path: Path) -> None:
    offer: dict[str, Any] = {
        "listing_id": "E1",
        "title": "Piscine superbe état",
        "image_uri": photo(tmp_path / "e1.png"),
    }
    with TestClient(api_app(settings), headers=AUTH) as client:
        assert client.get("/v1/listings/nope/explanation").json()["error"] == "not_found"
        assert client.post("/v1/listings", json=offer).status_code == 202
        pending = client.get("/v1/listings/E1/explanation")
        assert (pending.status_code, pending.json()["error"]) == (409, "conflict")

        first = classified_event("E1", 2583, 0.4, model_version="gone-from-disk")
        write_batch(settings.effective_database_url, [first])
        fresh = client.get("/v1/listings/E1/explanation")
        again = client.get("/v1/listings/E1/explanation")
        assert fresh.status_code == 200, fresh.text
        assert (fresh.headers["X-Cache"], again.headers["X-Cache"]) == ("miss", "hit")
        assert again.json() == fresh.json()
        body = fresh.json()
        assert body["submission_id"] == str(first.submission_id) and body["listing_id"] == "E1"
        assert body["model_version"] == "r1-test"  # that version is gone: the current one explains
        assert (
            body["prdtypecode"] == 2583
            and len(body["top_k"]) == 3
            and body["words_for"][0]["word"] == "piscine"
        )
        heatmap = body["heatmap"]
        assert (heatmap["rows"], heatmap["cols"]) == (4, 4) and heatmap["png_base64"]
        cell = int(np.argmax(np.asarray(heatmap["weights"]).reshape(-1)))
        assert cell == 15  # the yellow spot: it pushed for the predicted category
        assert body["modalities"]["share_text"] + body["modalities"]["share_image"] == pytest.approx(1)
        cache = redis.Redis.from_url(REDIS_URL)
        assert cache.ttl(settings.key(f"explanation:{first.submission_id}")) > 0

        second = classified_event("E1", 2583, 0.45, model_version="r1-test")
        write_batch(settings.effective_database_url, [second])
        newer = client.get("/v1/listings/E1/explanation")
        assert newer.headers["X-Cache"] == "miss" and newer.json()["submission_id"] == str(
            second.submission_id
        )
        assert (
            client.get("/v1/listings/E1/explanation", params={"refresh": True}).headers["X-Cache"] == "miss"
        )
        assert "catalog_api_explain_seconds_count" in client.get("/metrics").text
        anonymous = client.get(
            "/v1/listings/E1/explanation", params={"refresh": True}, headers={"Authorization": ""}
        )
        assert anonymous.status_code == 401, anonymous.text  # a forced recomputation is the token's
        assert client.get("/v1/listings/E1/explanation", headers={"Authorization": ""}).status_code == 200


def test_explanations_computed_are_limited_per_minute(settings: Settings, tmp_path: Path) -> None:
    """Cache misses cost a computation each: beyond CATALOG_API_EXPENSIVE_PER_MINUTE, 429 with
    Retry-After, while cached explanations are still served."""
    limited = settings.model_copy(update={"api_expensive_per_minute": 1})
    with TestClient(api_app(limited), headers=AUTH) as client:
        for listing_id in ("E3", "E4"):
            client.post("/v1/listings", json={"listing_id": listing_id, "title": "Piscine"})
            write_batch(settings.effective_database_url, [classified_event(listing_id, 2583, 0.4)])
        assert client.get("/v1/listings/E3/explanation").status_code == 200
        refused = client.get("/v1/listings/E4/explanation")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1, refused.text
        assert client.get("/v1/listings/E3/explanation").headers["X-Cache"] == "hit"
        again = client.get("/v1/listings/E3/explanation", params={"refresh": True})
        assert again.status_code == 429


def test_explanation_without_a_model_is_a_503(redis_prefix: str, postgres_url: str, tmp_path: Path) -> None:
    settings = Settings(
        redis_url=REDIS_URL, stream_prefix=redis_prefix, database_url=postgres_url,
        model_repository=tmp_path / "no-models", translator="none", api_token=TOKEN,
    )  # fmt: skip
    with TestClient(api_app(settings), headers=AUTH) as client:
        client.post("/v1/listings", json={"listing_id": "E2", "title": "Lego"})
        write_batch(settings.effective_database_url, [classified_event("E2", 1280, 0.3)])
        response = client.get("/v1/listings/E2/explanation")
    assert response.status_code == 503 and response.json()["error"] == "unavailable"
