"""Shared fixtures. Tests share the machine's Redis and PostgreSQL: each test gets its own
key prefix (cleaned up after) and its own PostgreSQL database (dropped after)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# No internet here: nothing in the suite may call a real translation provider (the default,
# google). Tests of translation point CATALOG_TRANSLATOR(_URL) at the local stand-in; commands
# run as subprocesses (`catalog train`, workers) inherit this.
os.environ.setdefault("CATALOG_TRANSLATOR", "none")


def _catalog_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key.startswith("CATALOG_")}


@pytest.fixture(autouse=True)
def _catalog_environment_unchanged(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that changes CATALOG_* in os.environ without restoring it fails here: the
    leak would otherwise reach every later test and subprocess (a removed
    CATALOG_TRANSLATOR=none once sent `catalog train` to google, with no internet)."""
    before = _catalog_environment()
    yield
    after = _catalog_environment()
    if after != before:
        changed = sorted(set(before.items()) ^ set(after.items()))
        os.environ.update(before)
        for key in set(after) - set(before):
            os.environ.pop(key)
        pytest.fail(f"{request.node.nodeid} left CATALOG_* changed (use monkeypatch): {changed}")


REDIS_URL = os.environ.get("CATALOG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_ADMIN_URL = os.environ.get(
    "CATALOG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique key prefix on the shared Redis; every key under it is deleted afterwards."""
    import redis

    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database of our own, dropped afterwards."""
    from shared.db.session import scratch_database

    with scratch_database(POSTGRES_ADMIN_URL, "catalog_test") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture(scope="session")
def synthetic_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic catalog in the challenge layout (generated once per session)."""
    from training.synth import generate_catalog

    out = tmp_path_factory.mktemp("synthetic-catalog")
    generate_catalog(out, n=300, seed=11)
    return out


@pytest.fixture(scope="session")
def tiny_model_repository(synthetic_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model repository trained once per session with the tiny profile (CPU instance groups)."""
    from training.pipeline import TrainRequest, train
    from training.profiles import DEFAULT_IMAGE_BASE, DEFAULT_TEXT_BASES, get_profile

    out = tmp_path_factory.mktemp("tiny-model-repository")
    train(
        TrainRequest(
            data_dir=synthetic_catalog,
            out=out,
            text_bases=list(DEFAULT_TEXT_BASES),
            image_bases=[DEFAULT_IMAGE_BASE],
            profile=get_profile("tiny"),
            instance_kind="KIND_CPU",
        )
    )
    return out
