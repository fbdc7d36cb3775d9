"""The API while its database is unreachable (issue 24 D): 503 with Retry-After, never 500,
and nothing half-written: no offer published that the store did not record (real Redis,
a scratch PostgreSQL database closed to every client)."""

from __future__ import annotations

import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.cli.wiring import api_app
from shared.config import Settings
from shared.contract import Stream
from shared.db.models import Submission
from shared.db.session import engine_for, session_scope, set_connections_allowed
from tests.conftest import POSTGRES_ADMIN_URL, REDIS_URL

TOKEN = "outage-token"
OFFER = {"listing_id": "D-1", "title": "Lego Star Wars 75192"}


def test_post_listings_answers_503_with_retry_after_while_sql_is_down(
    redis_prefix: str, postgres_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        database_url=postgres_url,
        api_token=TOKEN,
        model_repository=tmp_path / "models",
    )
    client_redis = redis.Redis.from_url(REDIS_URL)
    stream = settings.key(Stream.SUBMITTED)
    try:
        with TestClient(api_app(settings), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            assert client.post("/v1/listings", json=OFFER).status_code == 202
            published = client_redis.xlen(stream)
            set_connections_allowed(POSTGRES_ADMIN_URL, postgres_url, False)
            try:
                for _ in range(3):
                    down = client.post("/v1/listings", json={**OFFER, "listing_id": "D-2"})
                    assert down.status_code == 503, down.text
                    assert down.json()["error"] == "unavailable"
                    assert int(down.headers["Retry-After"]) > 0
                    assert client.get("/v1/listings/D-1").status_code == 503
                assert client_redis.xlen(stream) == published  # nothing published for them
            finally:
                set_connections_allowed(POSTGRES_ADMIN_URL, postgres_url, True)
            assert client.post("/v1/listings", json={**OFFER, "listing_id": "D-3"}).status_code == 202
        with session_scope(postgres_url) as session:
            ids = set(session.scalars(select(Submission.listing_id)))
            assert ids == {"D-1", "D-3"}
            assert session.scalar(select(func.count()).select_from(Submission)) == 2
        assert client_redis.xlen(stream) == published + 1
    finally:
        engine_for(postgres_url).dispose()
        client_redis.close()
