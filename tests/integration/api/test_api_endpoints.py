"""The HTTP API in-process (FastAPI TestClient) against real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.bench.seed import seed_database
from services.cli.wiring import api_app
from services.writer.worker import write_batch
from shared.broker import read_events
from shared.config import Settings
from shared.contract import CategoryScore, ListingSubmitted, Stream, utcnow
from shared.ml.model_repo import LabelSpec, Manifest, publish_manifest
from tests.conftest import REDIS_URL
from tests.support.factories import classified_event

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class SlowClassifier:
    """Stands in for the inference package's classifier to exercise the API's timeout path."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.calls: list[tuple[str, str | None, bytes | None]] = []

    async def classify(self, title: str, description: str | None, image: bytes | None) -> Any:
        self.calls.append((title, description, image))
        await asyncio.sleep(self.delay_s)
        return {
            "top_k": [CategoryScore(prdtypecode=c, label=str(c), probability=0.25) for c in (10, 40, 50, 60)]
        }


@pytest.fixture
def settings(redis_prefix: str, postgres_url: str, tmp_path: Any) -> Settings:
    return Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        database_url=postgres_url,
        api_token=TOKEN,
        classify_timeout_s=0.5,
        model_repository=tmp_path / "no-models",
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(api_app(settings)) as c:
        yield c


def test_post_listings_needs_the_token_and_publishes(client: TestClient, settings: Settings) -> None:
    one = {"listing_id": "A1", "title": "Lego Star Wars", "image_uri": "file:///data/a.jpg"}
    denied = client.post("/v1/listings", json=one)
    assert denied.status_code == 401
    assert denied.json()["error"] == "unauthorized" and "Bearer" in denied.json()["message"]

    single = client.post("/v1/listings", json=one, headers=AUTH)
    many = client.post(
        "/v1/listings",
        json={"offers": [{"listing_id": "B1", "title": "Console"}, {"listing_id": "B2", "description": "x"}]},
        headers=AUTH,
    )
    assert (single.status_code, many.status_code) == (202, 202)
    assert many.json()["accepted"] == 2
    events = asyncio.run(read_events(settings, Stream.SUBMITTED, ListingSubmitted, count=3, timeout_s=5))
    assert [e.listing_id for e in events] == ["A1", "B1", "B2"]
    assert str(events[0].submission_id) == single.json()["submissions"][0]["submission_id"]
    stored = client.get("/v1/listings/A1").json()
    assert stored["title"] == "Lego Star Wars" and stored["current"] is None


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"listing_id": "A1"}, "needs a title, a description or an image_uri"),
        ({"listing_id": "A1", "title": "t", "image_uri": "ftp://x"}, "image_uri must start with"),
        ({"offers": []}, "offers"),
        ({"listing_id": "A1", "title": "t", "price": 3}, "price"),
    ],
)
def test_bad_offers_get_a_clear_422(client: TestClient, body: dict[str, Any], fragment: str) -> None:
    response = client.post("/v1/listings", json=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"
    assert fragment in response.json()["message"]


def test_listing_detail_shows_current_and_history(client: TestClient, settings: Settings) -> None:
    assert client.get("/v1/listings/nope").json()["error"] == "not_found"
    first, second = classified_event("L1", 10, 0.4), classified_event("L1", 2280, 0.95)
    write_batch(settings.effective_database_url, [first])
    write_batch(settings.effective_database_url, [second])
    detail = client.get("/v1/listings/L1").json()
    assert detail["current"]["prdtypecode"] == 2280
    assert [h["submission_id"] for h in detail["history"]] == [
        str(second.submission_id),
        str(first.submission_id),
    ]


def test_dashboard_endpoints_on_a_seeded_database(client: TestClient, settings: Settings) -> None:
    seed_database(settings.effective_database_url, 200, n_listings=100, days=0.5)
    dist = client.get("/v1/stats/distribution", params={"since": "2000-01-01T00:00:00Z"}).json()
    assert dist["total"] == 200 == sum(c["count"] for c in dist["categories"])
    assert client.get("/v1/stats/distribution", params={"model_version": "r2"}).json()["total"] == 100
    queue = client.get("/v1/stats/review-queue").json()
    assert queue["threshold"] == settings.low_confidence_threshold
    assert all(i["confidence"] < queue["threshold"] for i in queue["items"]) and queue["total"] > 0
    tput = client.get(
        "/v1/stats/throughput", params={"since": "2000-01-01T00:00:00Z", "bucket_s": 600}
    ).json()
    assert sum(p["count"] for p in tput["points"]) == 200
    agree = client.get("/v1/stats/agreement", params={"version_a": "r1", "version_b": "r2"}).json()
    assert agree["compared"] == 100
    assert client.get("/v1/stats/agreement").status_code == 422
    assert {v["model_version"] for v in client.get("/v1/stats/versions").json()} == {"r1", "r2"}


def test_jobs_create_list_cancel(client: TestClient, settings: Settings) -> None:
    seed_database(settings.effective_database_url, 20, n_listings=20, versions=("r1",))
    assert client.post("/v1/jobs", json={}).status_code == 401
    created = client.post("/v1/jobs", json={"category": None, "page_size": 50}, headers=AUTH)
    assert created.status_code == 201
    job = created.json()
    assert (job["status"], job["total"], job["page_size"], job["runner"]) == ("pending", 20, 50, None)
    assert [j["job_id"] for j in client.get("/v1/jobs").json()] == [job["job_id"]]
    cancelled = client.post(f"/v1/jobs/{job['job_id']}/cancel", headers=AUTH).json()
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"]
    unknown = client.get("/v1/jobs/6f1c7d3e-8a52-4b8e-9f0e-0d3c2b1a9e77")
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"


def test_health_metrics_models_and_openapi(client: TestClient) -> None:
    health = client.get("/health")
    body = health.json()
    assert health.status_code == 200
    assert body["checks"]["redis"]["ok"] and body["checks"]["database"]["ok"]
    assert body["status"] == "degraded" and not body["checks"]["inference"]["ok"]  # no model here
    assert client.get("/v1/models").json()["models"] == []
    metrics = client.get("/metrics").text
    assert 'catalog_api_requests_total{method="GET",route="/health",status="200"}' in metrics
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {"/v1/listings", "/v1/classify", "/v1/classify/upload", "/v1/stats/distribution", "/v1/jobs",
            "/v1/jobs/{job_id}/cancel", "/v1/models", "/health", "/metrics"} <= paths  # fmt: skip


def test_classify_without_a_model_says_so(client: TestClient) -> None:
    assert client.post("/v1/classify", json={"title": "Console PS4"}).status_code == 401
    unavailable = client.post("/v1/classify", json={"title": "Console PS4"}, headers=AUTH)
    assert unavailable.status_code == 503 and "No model" in unavailable.json()["message"]
    assert client.post("/v1/classify", json={}, headers=AUTH).status_code == 422
    bad = client.post("/v1/classify", json={"image_base64": "@@@"}, headers=AUTH)
    assert bad.json()["error"] == "invalid_input"


def test_classify_times_out_and_answers_top3(settings: Settings) -> None:
    slow, fast = SlowClassifier(delay_s=5.0), SlowClassifier(delay_s=0.0)
    with TestClient(api_app(settings, classifier=slow), headers=AUTH) as c:
        late = c.post("/v1/classify", json={"title": "Console PS4"})
    assert late.status_code == 504 and late.json()["error"] == "timeout"
    with TestClient(api_app(settings, classifier=fast), headers=AUTH) as c:
        photo = b"\xff\xd8\xff fake jpeg bytes"
        ok = c.post("/v1/classify", json={"image_base64": base64.b64encode(photo).decode()})
        upload = c.post("/v1/classify/upload", data={"title": "Lego"}, files={"image": ("a.jpg", photo)})
    assert ok.status_code == 200 and [t["prdtypecode"] for t in ok.json()["top_k"]] == [10, 40, 50]
    assert ok.json()["modalities"] == ["image"]
    first = ok.json()["top_k"][0]  # the seller's suggestion names the code and its place
    assert (first["name"], first["path"]) == ("Livres", "Livres & presse > Livres")
    assert upload.status_code == 200 and upload.json()["modalities"] == ["text", "image"]
    assert fast.calls == [("", None, photo), ("Lego", None, photo)]


def test_redis_down_gives_json_503s(sqlite_url: str) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(redis_url=f"redis://127.0.0.1:{port}/0", database_url=sqlite_url, api_auth="off")
    with TestClient(api_app(settings)) as c:
        health = c.get("/health")
        posted = c.post("/v1/listings", json={"listing_id": "a", "title": "x"})
        missing = c.get("/v1/listings/a")
    assert health.status_code == 503 and health.json()["status"] == "down"
    assert health.json()["checks"]["database"]["ok"] and not health.json()["checks"]["redis"]["ok"]
    assert posted.status_code == 503 and "Redis is unavailable" in posted.json()["message"]
    assert int(posted.headers["Retry-After"]) > 0  # an outage: come back, not a client error
    # Nothing of an offer that never entered the pipeline stays in SQL.
    assert missing.status_code == 404


def test_models_lists_every_manifest_with_its_status(settings: Settings) -> None:
    repo = settings.model_repository
    labels = [LabelSpec(prdtypecode=10, name="Livres"), LabelSpec(prdtypecode=40, name="Jeux")]
    for revision in (1, 2):
        publish_manifest(
            repo,
            Manifest(version=f"r{revision}-test", revision=revision, created_at=utcnow(), labels=labels,
                     metrics={"weighted_f1": 0.5 + revision / 10}),
        )  # fmt: skip
    with TestClient(api_app(settings)) as c:
        body = c.get("/v1/models").json()
    assert body["current"] == "r1-test"  # a later revision is a candidate until promoted
    assert [(m["version"], m["current"], m["status"], m["labels"]) for m in body["models"]] == [
        ("r2-test", False, "candidate", 2),
        ("r1-test", True, "current", 2),
    ]
    assert body["models"][0]["metrics"] == {"weighted_f1": 0.7}


def test_training_progress_is_served_for_the_dashboard(settings: Settings, tmp_path: Any) -> None:
    from services.demo.training import ProgressReporter
    from shared.ml.training_progress import progress_path

    settings = settings.model_copy(update={"var_dir": tmp_path / "var"})
    with TestClient(api_app(settings)) as c:
        assert c.get("/v1/training").json() == {"state": "none"}
        log_file = str(tmp_path / "var" / "train.log")
        ProgressReporter(progress_path(settings.var_dir), "default", log_file=log_file).stage("image")
        response = c.get("/v1/training")
    body = response.json()
    assert (body["state"], body["profile"], body["stage"]) == ("running", "default", "image")
    assert 0 < body["fraction"] < 1 and body["eta_s"] > 0
    assert str(tmp_path) not in response.text  # the log's path stays on the server
