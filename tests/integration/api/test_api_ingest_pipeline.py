"""`catalog ingest --wait` through the whole pipeline (language, encoders, fusion, writer on real
Redis and PostgreSQL, the tiny trained model): N offers give N predictions, the API's
distribution sums to N, and the synchronous classify path answers with the same model."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.api.ingest import read_offers
from services.cli.wiring import api_app
from services.fusion.worker import create_worker as fusion_worker
from services.image_encoder.worker import create_worker as image_worker
from services.language.worker import create_worker as language_worker
from services.text_encoder.worker import create_worker as text_worker
from services.writer.worker import create_worker as writer_worker
from shared.config import Settings
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.slow
N = 40


@pytest.fixture
def settings(
    redis_prefix: str, postgres_url: str, synthetic_catalog: Path, tiny_model_repository: Path
) -> Settings:
    return Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        database_url=postgres_url,
        model_repository=tiny_model_repository,
        inference_backend="local",
        translator="none",
        image_roots=[synthetic_catalog],
        batch_size=16,
        classify_timeout_s=60,
        api_token="pipeline-token",
    )


def ingest_cli(settings: Settings, data_dir: Path, out: Path) -> subprocess.CompletedProcess[bytes]:
    env = {
        **os.environ,
        "CATALOG_DATABASE_URL": settings.effective_database_url,
        "CATALOG_REDIS_URL": REDIS_URL,
        "CATALOG_STREAM_PREFIX": settings.stream_prefix,
    }
    cmd = [sys.executable, "-m", "services.cli.main", "ingest", str(data_dir), "--limit", str(N), "--wait",
           "--timeout", "300", "--json", str(out)]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, timeout=400, check=False)


async def test_ingest_wait_stores_n_predictions_and_distribution_sums_to_n(
    settings: Settings, synthetic_catalog: Path, tmp_path: Path
) -> None:
    summary_path = tmp_path / "ingest.json"
    async with AsyncExitStack() as stack:
        for factory in (language_worker, text_worker, image_worker, fusion_worker, writer_worker):
            await stack.enter_async_context(factory(settings).running())
        done = await asyncio.to_thread(ingest_cli, settings, synthetic_catalog, summary_path)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    summary = json.loads(summary_path.read_text())
    assert (summary["published"], summary["classified"], summary["missing"]) == (N, N, 0)
    assert 0.0 <= summary["weighted_f1"] <= 1.0
    assert "weighted F1:" in done.stdout.decode()

    offers = read_offers(synthetic_catalog, limit=N)
    auth = {"Authorization": "Bearer pipeline-token"}
    with TestClient(api_app(settings), headers=auth) as client:
        dist = client.get("/v1/stats/distribution").json()
        assert dist["total"] == N == sum(c["count"] for c in dist["categories"])
        listing = client.get(f"/v1/listings/{offers[0].event.listing_id}").json()
        assert listing["current"] is not None and len(listing["history"]) == 1
        assert listing["history"][0]["modalities"]  # text and/or image were used
        # the tiny revision records auto-accept thresholds: every stored prediction is decided
        versions = client.get("/v1/stats/auto-accept").json()["versions"]
        assert [v["predictions"] for v in versions] == [N]  # one version, all N decided
        assert listing["history"][0]["decision"] in ("auto", "review")
        health = client.get("/health").json()
        assert health["status"] == "ok", health

        title_only = client.post("/v1/classify", json={"title": offers[0].event.title})
        photo = Path(offers[1].event.image_uri.removeprefix("file://")).read_bytes()  # type: ignore[union-attr]
        photo_only = client.post("/v1/classify", json={"image_base64": base64.b64encode(photo).decode()})
        upload = client.post("/v1/classify/upload", files={"image": ("p.jpg", photo, "image/jpeg")})
    for response in (title_only, photo_only, upload):
        assert response.status_code == 200, response.text
        top = response.json()["top_k"]
        assert len(top) == 3 and top[0]["probability"] >= top[1]["probability"] >= top[2]["probability"]
    assert title_only.json()["modalities"] == ["text"]
    assert {r.json()["decision"] for r in (title_only, photo_only, upload)} <= {"auto", "review"}
    assert photo_only.json()["modalities"] == ["image"]
    assert photo_only.json()["top_k"] == upload.json()["top_k"]
