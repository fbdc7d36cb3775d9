"""Reviewer labels, live quality, drift and shadow endpoints in-process against PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.cli.wiring import api_app
from services.writer.worker import write_batch
from shared.config import Settings
from shared.contract import ListingSubmitted
from shared.db.listings import upsert_listings
from shared.db.quality import record_label
from shared.db.session import session_scope, upgrade
from shared.lifecycle.state import set_shadow
from shared.taxonomy.files import parse_json, reference_taxonomy, to_json
from shared.taxonomy.store import load_taxonomy
from tests.conftest import REDIS_URL
from tests.integration.lifecycle.helpers import publish
from tests.support.factories import classified_event

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def settings(redis_prefix: str, postgres_url: str, tmp_path: Any) -> Settings:
    repo = tmp_path / "repo"
    publish(repo, 1, 0.8)
    publish(repo, 2, 0.81)
    set_shadow(repo, "r2-gate", 0.5, by="test")
    upgrade(postgres_url)
    with session_scope(postgres_url) as session:
        upsert_listings(session, [ListingSubmitted.new(f"L{i}", title=f"offer {i}") for i in range(4)])
    live = [classified_event(f"L{i}", 10, 0.3 + 0.1 * i, model_version="r1-gate") for i in range(4)]
    shadow = [
        classified_event(e.listing_id, 10 if i < 3 else 40, 0.9, model_version="r2-gate").model_copy(
            update={"shadow": True, "shadow_of": e.submission_id}
        )
        for i, e in enumerate(live)
    ]
    write_batch(postgres_url, live + shadow)
    return Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        database_url=postgres_url,
        api_token=TOKEN,
        model_repository=repo,
        drift_interval_s=0,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(api_app(settings)) as c:
        yield c


def test_a_label_needs_the_token_records_who_and_what_it_corrects(client: TestClient) -> None:
    queue = client.get("/v1/stats/review-queue").json()
    assert queue["total"] == 3  # confidences 0.3, 0.4, 0.5 < 0.6
    body = {"prdtypecode": 40, "reviewer": "alice", "note": "a game, not a book"}
    assert client.post("/v1/listings/L0/label", json=body).status_code == 401
    made = client.post("/v1/listings/L0/label", json=body, headers=AUTH)
    assert made.status_code == 201, made.text
    label = made.json()
    assert (label["action"], label["reviewer"], label["prdtypecode"]) == ("correct", "alice", 40)
    assert label["corrects"]["prdtypecode"] == 10 and label["corrects"]["model_version"] == "r1-gate"
    accepted = client.post("/v1/listings/L1/label", json={"prdtypecode": 10, "reviewer": "bob"}, headers=AUTH)
    assert accepted.json()["action"] == "accept"
    queue = client.get("/v1/stats/review-queue").json()
    assert queue["total"] == 1 and [i["listing_id"] for i in queue["items"]] == ["L2"]  # reviewed ones left

    unknown = client.post("/v1/listings/nope/label", json=body, headers=AUTH)
    assert unknown.status_code == 404 and "No listing" in unknown.json()["message"]
    bad_code = client.post("/v1/listings/L0/label", json={**body, "prdtypecode": 7}, headers=AUTH)
    assert bad_code.status_code == 409 and "Unknown prdtypecode 7" in bad_code.json()["message"]
    blank = client.post("/v1/listings/L0/label", json={**body, "reviewer": " "}, headers=AUTH)
    assert blank.status_code == 422


def test_quality_per_version_and_shadow_agreement(client: TestClient) -> None:
    for lid, code in (("L0", 10), ("L1", 10), ("L2", 10), ("L3", 40)):
        assert (
            client.post(
                f"/v1/listings/{lid}/label", json={"prdtypecode": code, "reviewer": "a"}, headers=AUTH
            ).status_code
            == 201
        )
    quality = client.get("/v1/stats/quality").json()
    assert (quality["labels"], quality["accepted"], quality["corrected"]) == (4, 3, 1)
    versions = {v["model_version"]: v for v in quality["versions"]}
    assert versions["r1-gate"]["accuracy"] == 0.75 and versions["r1-gate"]["shadow"] is False
    assert versions["r2-gate"]["accuracy"] == 1.0 and versions["r2-gate"]["shadow"] is True
    low, high = versions["r1-gate"]["accuracy_ci95"]
    assert low < 0.75 < high and versions["r1-gate"]["n"] == 4
    shadow = client.get("/v1/stats/shadow").json()
    assert shadow["current"] == "r1-gate" and shadow["shadow"]["version"] == "r2-gate"
    (pair,) = shadow["agreement"]
    assert (pair["compared"], pair["agreed"]) == (4, 3)
    assert pair["top_changes"] == [{"from": 10, "to": 40, "count": 1}]
    assert shadow["labelled"]["listings"] == 4
    models = client.get("/v1/models").json()
    assert {m["version"]: m["status"] for m in models["models"]} == {
        "r2-gate": "shadow",
        "r1-gate": "current",
    }
    dist = client.get("/v1/stats/distribution").json()
    assert dist["total"] == 4  # shadow predictions are not live traffic


def test_drift_endpoint_reads_without_touching_the_alert(client: TestClient) -> None:
    """A reader picking a window where nothing drifts must not silence a firing alert: the
    gauges come from the scheduled computation only (here: as an alerting one left them)."""
    metrics = client.app.state.api.metrics  # type: ignore[attr-defined]
    metrics.drift_alert.set(1.0)
    metrics.drift_psi.labels("class_shares").set(0.9)
    drift = client.get("/v1/stats/drift", params={"windows": 2, "window_s": 60})
    assert drift.status_code == 200 and drift.headers["X-Cache"] == "miss"
    body = drift.json()
    assert body["model_version"] == "r1-gate" and len(body["windows"]) == 2
    assert body["thresholds"] == {"warn": 0.1, "alert": 0.25, "min_samples": 50}
    assert set(body["signals"]) == {"class_shares", "confidence", "language", "no_photo"}
    assert body["signals"]["class_shares"]["status"] == "insufficient" and body["alert"] is False
    exposed = client.get("/metrics").text
    assert "catalog_drift_alert 1.0" in exposed, exposed
    assert 'catalog_drift_psi{signal="class_shares"} 0.9' in exposed


def test_drift_reports_are_cached_and_their_computations_limited(settings: Settings) -> None:
    with TestClient(api_app(settings.model_copy(update={"api_expensive_per_minute": 1}))) as c:
        first = c.get("/v1/stats/drift", params={"windows": 48})
        assert first.status_code == 200 and first.headers["X-Cache"] == "miss"
        again = c.get("/v1/stats/drift", params={"windows": 48})
        assert again.status_code == 200 and again.headers["X-Cache"] == "hit"
        assert again.json() == first.json()
        other = c.get("/v1/stats/drift", params={"windows": 47})
        assert other.status_code == 429 and int(other.headers["Retry-After"]) >= 1, other.text
        assert "CATALOG_API_EXPENSIVE_PER_MINUTE" in other.json()["message"]


def test_the_api_recomputes_drift_quality_and_agreement_on_its_schedule(settings: Settings) -> None:
    """No request to /v1/stats/drift: the lifespan's monitor (every CATALOG_DRIFT_INTERVAL_S)
    fills the gauges on its own."""
    scheduled = settings.model_copy(update={"drift_interval_s": 0.2})
    with TestClient(api_app(scheduled)) as c:
        with session_scope(str(settings.database_url)) as session:
            record_label(session, "L0", 10, reviewer="alice")
        deadline, metrics = time.monotonic() + 20, ""
        while time.monotonic() < deadline:
            metrics = c.get("/metrics").text
            if 'catalog_live_labelled{model_version="r1-gate"} 1.0' in metrics:
                break
            time.sleep(0.1)
        assert 'catalog_live_labelled{model_version="r1-gate"} 1.0' in metrics, metrics[-2000:]
        assert 'catalog_drift_psi{signal="class_shares"} 0.0' in metrics  # insufficient: 4 predictions
        assert 'catalog_shadow_agreement{live_version="r1-gate",shadow_version="r2-gate"} 0.75' in metrics
        assert c.app.state.api.last_drift["model_version"] == "r1-gate"  # type: ignore[attr-defined]


def test_retired_merged_and_unknown_codes_are_refused_names_and_paths_are_served(
    client: TestClient, settings: Settings
) -> None:
    """After a taxonomy change, labels and jobs naming a retired, merged, department or unknown
    code get a 409 that says why; the menu, the review queue and the distribution carry names
    and paths, the distribution read through the merge."""
    body = json.loads(to_json(reference_taxonomy()))
    for entry in body["categories"]:
        if entry["code"] == 1301:
            entry["retired"] = True
    body["merges"] = {"10": 2403}  # the listings' predictions (10) now read as 2403
    with session_scope(str(settings.database_url)) as session:
        load_taxonomy(session, parse_json(json.dumps(body)), source="test")

    for code, why in [
        (1301, "is retired"),
        (10, "was merged into 2403"),
        (90001, "is a department"),
        (7, "Unknown prdtypecode 7"),
    ]:
        label = client.post(
            "/v1/listings/L0/label", json={"prdtypecode": code, "reviewer": "a"}, headers=AUTH
        )
        assert label.status_code == 409 and why in label.json()["message"], label.text
        job = client.post("/v1/jobs", json={"category": code}, headers=AUTH)
        assert job.status_code == 409 and why in job.json()["message"], job.text
    assert (
        client.post(
            "/v1/listings/L0/label", json={"prdtypecode": 2403, "reviewer": "a"}, headers=AUTH
        ).status_code
        == 201
    )

    menu = client.get("/v1/categories").json()
    assert len(menu) == 25 and {"prdtypecode", "label", "name", "path", "status"} <= set(menu[0])
    assert (
        next(c for c in menu if c["prdtypecode"] == 2583)["path"]
        == "Jardin & piscine > Equipement piscine & spa"
    )
    assert len(client.get("/v1/categories", params={"all": "true"}).json()) == 37
    item = client.get("/v1/stats/review-queue").json()["items"][0]
    assert item["path"] == "Livres & presse > Livres" and item["name"] == "Livres"
    distribution = client.get("/v1/stats/distribution").json()["categories"]
    assert [(c["prdtypecode"], c["merged_from"]) for c in distribution] == [(2403, [10])]
