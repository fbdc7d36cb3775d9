"""Issue 24 item 11: every URL form whose password a library honours is redacted, as that library
reads it (SQLAlchemy's make_url, redis-py's parse_url / urllib), in ``catalog config``, in logs
and in ``/health``; a URL that does not parse is hidden whole."""

from __future__ import annotations

import json
import logging

import pytest
from redis.connection import parse_url
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from services.api.app import _check
from shared.config import Settings, get_settings, redacted
from shared.logging import ConsoleFormatter, JsonFormatter
from shared.redact import redact_text, redact_url

SQL = [
    ("userinfo", "postgresql+psycopg://catalog:Pw1@db:5432/catalog", "postgresql+psycopg://catalog:***@db:5432/catalog"),
    ("query-password", "postgresql://u@h:5432/db?password=Pw1", "postgresql://u@h:5432/db?password=***"),
    ("query-and-options", "postgresql://u@h/db?sslmode=require&password=Pw1", "postgresql://u@h/db?sslmode=require&password=***"),
    ("slash-in-password", "postgresql://u:Pw1/x@h/db", "postgresql://u:***@h/db"),
    ("hash-in-password", "postgresql://u:Pw1#x@h/db", "postgresql://u:***@h/db"),
    ("hash-and-query", "postgresql://u:Pw1#x@h/db?password=Pw1", "postgresql://u:***@h/db?password=***"),
    ("percent-encoded-at", "postgresql://u:Pw1%40x@h/db", "postgresql://u:***@h/db"),
    ("no-password", "postgresql://u@h:5432/db?application_name=w", "postgresql://u@h:5432/db?application_name=w"),
    ("sqlite-file", "sqlite:////var/catalog.db", "sqlite:////var/catalog.db"),
]  # fmt: skip
REDIS = [
    ("userinfo", "redis://:Pw1@cache:6379/0", "redis://:***@cache:6379/0"),
    ("user-and-password", "rediss://app:Pw1@cache:6380/1", "rediss://app:***@cache:6380/1"),
    ("query-password", "redis://h:6379/0?password=Pw1", "redis://h:6379/0?password=***"),
    ("at-in-password", "redis://u:Pw1@x@h/0", "redis://u:***@h/0"),
    ("unix-socket-query", "unix:///run/redis.sock?password=Pw1&db=1", "unix:///run/redis.sock?password=***&db=1"),
    ("no-password", "redis://cache:6379/0", "redis://cache:6379/0"),
]  # fmt: skip
UNPARSEABLE = [
    ("sql-bad-port", "postgresql://u:Pw1@h:port/db"),
    ("redis-slash-in-password", "redis://:Pw1/x@h:6379/0"),  # redis-py refuses it
    ("redis-hash-in-password", "redis://:Pw1#x@h:6379/0"),
    ("http-bad-port", "http://u:Pw1@h:port/x"),
    ("unclosed-ipv6", "http://[::1:Pw1"),
]


def _ids(cases: list[tuple[str, ...]]) -> list[str]:
    return [case[0] for case in cases]


@pytest.mark.parametrize(("url", "shown"), [c[1:] for c in SQL], ids=_ids(SQL))
def test_sql_urls_are_redacted_as_sqlalchemy_reads_them(url: str, shown: str) -> None:
    secret = make_url(url).password or make_url(url).query.get("password")
    assert redact_url(url) == shown
    if secret:  # the test's premise: SQLAlchemy does read a password there
        assert secret.startswith("Pw1") and "Pw1" not in redact_url(url)
    assert make_url(shown).host == make_url(url).host  # still a useful URL


@pytest.mark.parametrize(("url", "shown"), [c[1:] for c in REDIS], ids=_ids(REDIS))
def test_redis_urls_are_redacted_as_redis_py_reads_them(url: str, shown: str) -> None:
    read = parse_url(url).get("password")
    assert redact_url(url) == shown
    if read:
        assert str(read).startswith("Pw1") and parse_url(shown)["password"] == "***"


@pytest.mark.parametrize("url", [c[1] for c in UNPARSEABLE], ids=_ids(UNPARSEABLE))
def test_a_url_that_does_not_parse_is_hidden_whole(url: str) -> None:
    assert redact_url(url) == "***"


def test_catalog_config_shows_no_password_in_any_form(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.cli.main import app

    monkeypatch.setenv("CATALOG_DATABASE_URL", "postgresql://u:Pw1/x@db/catalog?password=Pw2")
    monkeypatch.setenv("CATALOG_REDIS_URL", "redis://cache:6379/0?password=Pw3")
    monkeypatch.setenv("CATALOG_TRANSLATOR_URL", "https://tr.example.com/v2?key=Pw4")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["config"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "Pw" not in result.output
    shown = json.loads(result.output)
    assert shown["database_url"] == "postgresql://u:***@db/catalog?password=***"
    assert shown["redis_url"] == "redis://cache:6379/0?password=***"


def test_redacted_settings_cover_every_url_field() -> None:
    settings = Settings(
        redis_url="redis://h:6379/0?password=Pw1",
        database_url="postgresql://u@h/db?password=Pw2",
        translator_url="https://u:Pw3@tr.example.com",
    )
    assert "Pw" not in json.dumps(redacted(settings))


@pytest.mark.parametrize("formatter", [JsonFormatter(), ConsoleFormatter()])
def test_logs_hide_every_form(formatter: logging.Formatter) -> None:
    urls = [c[1] for c in SQL + REDIS + UNPARSEABLE]
    fields = {"msg": "cannot reach %s.", "args": (urls[3],), "levelno": 40, "levelname": "ERROR"}
    record = logging.makeLogRecord(fields)
    record.urls = " ".join(urls)
    line = formatter.format(record)
    assert "Pw1" not in line and "cannot reach postgresql://u:***@h/db." in line


def test_text_keeps_what_is_not_a_secret() -> None:
    text = "GET https://img.example.com/a.jpg?w=200 from 10.0.0.1:8000 (redis://:Pw1@h:6379/0)."
    assert (
        redact_text(text)
        == "GET https://img.example.com/a.jpg?w=200 from 10.0.0.1:8000 (redis://:***@h:6379/0)."
    )


async def test_health_errors_show_no_password(caplog: pytest.LogCaptureFixture) -> None:
    """/health shows only the kind of failure; the detail goes to the log, redacted."""

    async def failing() -> dict[str, object]:
        raise ConnectionError("cannot reach postgresql://u@h/db?password=Pw1 or redis://:Pw2@h/0")

    with caplog.at_level("WARNING"):
        check = await _check("database", failing())
    assert check == {"ok": False, "error": "ConnectionError"}
    logged = [str(getattr(r, "error", "")) for r in caplog.records]
    assert any("password=***" in e for e in logged) and not any("Pw" in e for e in logged)
