# ruff: noqa: E501  (the corpus is a table: one case a line)
"""Bad-input corpus, HTTP side: each case ends as a clear 4xx (JSON error with a message), and
the API goes on accepting good offers (real Redis, SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.cli.wiring import api_app
from shared.config import Settings
from tests.conftest import REDIS_URL

TOKEN = "corpus-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GOOD = {"listing_id": "G1", "title": "Console PS4"}


def offer(**fields: Any) -> dict[str, Any]:
    return {**GOOD, **fields}


# (id, method, path, kwargs for the request, expected status, fragment of the message)
CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    ("uri-nul", "POST", "/v1/listings", {"json": offer(image_uri="file:///data/a%00b.jpg")}, 422, "image_uri"),
    ("uri-bad-bracket", "POST", "/v1/listings", {"json": offer(image_uri="http://[::1")}, 422, "image_uri"),
    ("uri-bad-port", "POST", "/v1/listings", {"json": offer(image_uri="http://host:abc/x.jpg")}, 422, "image_uri"),
    ("uri-port-zero", "POST", "/v1/listings", {"json": offer(image_uri="http://host:0/x.jpg")}, 422, "image_uri"),
    ("uri-scheme", "POST", "/v1/listings", {"json": offer(image_uri="ftp://host/x.jpg")}, 422, "image_uri"),
    ("uri-space", "POST", "/v1/listings", {"json": offer(image_uri="http://host/a b.jpg")}, 422, "image_uri"),
    ("uri-file-host", "POST", "/v1/listings", {"json": offer(image_uri="file://evil/etc/x.jpg")}, 422, "image_uri"),
    ("id-nul", "POST", "/v1/listings", {"json": offer(listing_id="a\x00b")}, 422, "listing_id"),
    ("title-nul", "POST", "/v1/listings", {"json": offer(title="x\x00y")}, 422, "NUL"),
    ("description-surrogate", "POST", "/v1/listings",
     {"content": '{"listing_id": "S1", "description": "\\ud800"}', "headers": {"content-type": "application/json"}},
     422, "description"),
    ("id-blank", "POST", "/v1/listings", {"json": offer(listing_id="   ")}, 422, "listing_id"),
    ("id-too-long", "POST", "/v1/listings", {"json": offer(listing_id="x" * 129)}, 422, "listing_id"),
    ("no-content", "POST", "/v1/listings", {"json": {"listing_id": "E1"}}, 422, "needs a title"),
    ("unknown-field", "POST", "/v1/listings", {"json": offer(price=3)}, 422, "price"),
    ("too-many-offers", "POST", "/v1/listings", {"json": {"offers": [GOOD] * 1001}}, 422, "at most 1000"),
    ("not-json", "POST", "/v1/listings",
     {"content": b"\xff\xfe not json", "headers": {"content-type": "application/json"}}, 400, "parsing"),
    ("body-too-large-before-auth", "POST", "/v1/listings",
     {"content": b"x" * 70_000, "headers": {"content-type": "application/json", "authorization": ""}},
     413, "larger than"),
    ("no-token", "POST", "/v1/listings", {"json": GOOD, "headers": {"authorization": ""}}, 401, "Bearer"),
    ("wrong-token", "POST", "/v1/listings", {"json": GOOD, "headers": {"authorization": "Bearer nope"}},
     401, "Bearer"),
    ("non-ascii-token", "POST", "/v1/jobs", {"json": {}, "headers": {"authorization": "Bearer jeton-é".encode("latin-1")}},
     401, "Bearer"),
    ("classify-no-token", "POST", "/v1/classify", {"json": {"title": "x"}, "headers": {"authorization": ""}},
     401, "Bearer"),
    ("upload-no-token", "POST", "/v1/classify/upload", {"data": {"title": "x"}, "headers": {"authorization": ""}},
     401, "Bearer"),
    ("image-base64-invalid", "POST", "/v1/classify", {"json": {"image_base64": "@@@@"}}, 422, "image_base64"),
    ("image-base64-too-long", "POST", "/v1/classify", {"json": {"image_base64": "A" * 14_000_004}}, 413,
     "larger than"),
    ("since-extreme-offset", "GET", "/v1/stats/distribution", {"params": {"since": "2020-01-01T00:00:00+99:00"}},
     422, "since"),
    ("since-year-1", "GET", "/v1/stats/throughput", {"params": {"since": "0001-01-01T00:00:00+01:00"}}, 422,
     "since"),
    ("until-number", "GET", "/v1/stats/distribution", {"params": {"until": "0.5"}}, 422, "until"),
    ("offset-2**63", "GET", "/v1/stats/review-queue", {"params": {"offset": str(2**63)}}, 422, "offset"),
    ("job-category-2**70", "POST", "/v1/jobs", {"json": {"category": 2**70, "start": False}}, 422, "category"),
    ("job-since-year-1", "POST", "/v1/jobs", {"json": {"since": "0001-01-01T00:00:00Z", "start": False}}, 422,
     "since"),
    ("job-start-string", "POST", "/v1/jobs", {"json": {"start": "yes"}}, 422, "start"),
    ("job-id-not-uuid", "GET", "/v1/jobs/not-a-uuid", {}, 422, "job_id"),
    # NUL in a query parameter reached PostgreSQL ("text fields cannot contain NUL"): a 500 there
    ("version-nul", "GET", "/v1/stats/distribution", {"params": {"model_version": "a\x00b"}}, 422, "NUL"),
    ("queue-version-nul", "GET", "/v1/stats/review-queue", {"params": {"model_version": "\x00"}}, 422, "NUL"),
    ("agreement-nul", "GET", "/v1/stats/agreement", {"params": {"version_a": "\x00", "version_b": "r1"}}, 422,
     "NUL"),
    ("job-version-nul", "POST", "/v1/jobs", {"json": {"model_version": "r\x00"}}, 422, "NUL"),
    ("trailing-nul-id", "POST", "/v1/listings", {"json": offer(listing_id="A1\x00")}, 422, "listing_id"),
]  # fmt: skip


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    import uuid

    import redis

    prefix = f"rel-corpus-{uuid.uuid4().hex[:8]}:"
    tmp: Path = tmp_path_factory.mktemp("api-corpus")
    settings = Settings(
        redis_url=REDIS_URL,
        stream_prefix=prefix,
        database_url=f"sqlite:///{tmp / 'c.db'}",
        api_token=TOKEN,
        api_max_body_bytes=64 * 1024,
        model_repository=tmp / "models",
    )
    with TestClient(api_app(settings), headers=AUTH) as c:
        yield c
    r = redis.Redis.from_url(REDIS_URL)
    keys = list(r.scan_iter(match=f"{prefix}*"))
    if keys:
        r.delete(*keys)
    r.close()


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_request_gets_a_clear_4xx_and_the_api_goes_on(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any], status: int, fragment: str
) -> None:
    response = client.request(method, path, **kwargs)
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert body["error"] and fragment.lower() in (body["message"] + str(body["details"])).lower(), body
    follow = client.post("/v1/listings", json=GOOD)
    assert follow.status_code == 202, follow.text


@pytest.mark.parametrize("listing_id", ["shop/42", "x/explanation", "a b", "..", "a%2Fb", "\u001d", "é"])
def test_a_listing_id_that_cannot_round_trip_is_refused_at_the_door(
    client: TestClient, listing_id: str
) -> None:
    """Ids with '/' were accepted, then unreadable (label 405, explanation 404, and
    'x/explanation' read as the explanation of 'x'): one grammar, refused with 422."""
    response = client.post("/v1/listings", json={"listing_id": listing_id, "title": "Lego"})
    assert response.status_code == 422, response.text
    assert "listing_id must be 1 to 128 letters, digits" in response.json()["message"]


def test_every_accepted_listing_id_is_readable_at_each_route(client: TestClient) -> None:
    for listing_id in ("shop:42", "A-1.b_c"):
        assert (
            client.post("/v1/listings", json={"listing_id": listing_id, "title": "Lego"}).status_code == 202
        )
        detail = client.get(f"/v1/listings/{listing_id}")
        assert detail.status_code == 200 and detail.json()["listing_id"] == listing_id, detail.text
        explanation = client.get(f"/v1/listings/{listing_id}/explanation")  # found, not classified yet
        assert explanation.status_code == 409, explanation.text
        label = client.post(f"/v1/listings/{listing_id}/label", json={"prdtypecode": 10, "reviewer": "al"})
        assert label.status_code == 201, label.text  # the label route finds it (it was a 405)
    bad = client.get("/v1/listings/a%20b")
    assert bad.status_code == 422 and "listing_id must be" in bad.json()["message"]


def test_a_chunked_body_over_the_limit_is_cut_off(client: TestClient) -> None:
    """No Content-Length: the body is counted while it streams in and refused at the limit."""

    def chunks() -> Iterator[bytes]:
        yield b'{"listing_id": "C1", "title": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    response = client.post("/v1/listings", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"] == "too_large", response.text[:300]
    assert client.post("/v1/listings", json=GOOD).status_code == 202
