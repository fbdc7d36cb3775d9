"""Defects 8 and 9: secrets never printed; stream events bounded as SQL can store them."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from pydantic import ValidationError

from shared.config import Settings, redacted
from shared.contract import CategoryScore, ListingClassified, ListingSubmitted
from shared.logging import ConsoleFormatter, JsonFormatter


def test_config_redacts_tokens_and_url_passwords() -> None:
    settings = Settings(
        redis_url="redis://:redis-pw@cache:6379/0",
        database_url="postgresql+psycopg://catalog:db-pw@db:5432/catalog",
        api_token="api-secret",
        translator_api_key="key-secret",
    )
    shown = json.dumps(redacted(settings))
    for secret in ("redis-pw", "db-pw", "api-secret", "key-secret"):
        assert secret not in shown
    assert (
        "redis://:***@cache:6379/0" in shown and "postgresql+psycopg://catalog:***@db:5432/catalog" in shown
    )


@pytest.mark.parametrize("formatter", [JsonFormatter(), ConsoleFormatter()])
def test_logs_never_show_a_url_password(formatter: logging.Formatter) -> None:
    record = logging.makeLogRecord(
        {"msg": "cannot reach redis://:hunter2@h:6379/0", "levelno": 40, "levelname": "ERROR"}
    )
    record.url = "postgresql://u:hunter2@db/x"
    line = formatter.format(record)
    assert "hunter2" not in line and ":***@" in line


def test_prediction_codes_are_bounded_to_32_bits() -> None:
    score = {"prdtypecode": 2**40, "label": "x", "probability": 0.5}
    with pytest.raises(ValidationError):
        CategoryScore.model_validate(score)
    with pytest.raises(ValidationError):
        ListingClassified.model_validate(
            {"submission_id": str(uuid.uuid4()), "listing_id": "a", "prdtypecode": 2**40, "label": "x",
             "confidence": 0.5, "top_k": [], "modalities": ["text"], "model_version": "r1"}
        )  # fmt: skip


@pytest.mark.parametrize(
    "fields",
    [{"title": "a\x00b"}, {"listing_id": "a\x00"}, {"description": "\ud800"}, {"schema_version": 2}],
)
def test_submissions_sql_cannot_store_are_invalid(fields: dict[str, object]) -> None:
    base: dict[str, object] = {"submission_id": str(uuid.uuid4()), "listing_id": "a", "title": "ok"}
    with pytest.raises(ValidationError):
        ListingSubmitted.model_validate({**base, **fields})
