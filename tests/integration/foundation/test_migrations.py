"""`alembic upgrade head` and `alembic check` on SQLite and PostgreSQL, through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[3]


def alembic(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CATALOG_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_head_then_check_is_clean(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    upgraded = alembic(url, "upgrade", "head")
    assert upgraded.returncode == 0, upgraded.stderr
    checked = alembic(url, "check")
    assert checked.returncode == 0, checked.stderr + checked.stdout
    engine = create_engine(url)
    with engine.connect() as conn:
        codes = conn.execute(text("select count(*) from categories")).scalar_one()
        indexes = conn.execute(
            text(
                "select count(*) from pg_indexes where tablename = 'predictions'"
                if backend == "postgresql"
                else "select count(*) from sqlite_master where type='index' and tbl_name='predictions'"
            )
        ).scalar_one()
    engine.dispose()
    assert codes == 27 + 10  # the reference leaves under their departments (0009_taxonomy)
    assert indexes >= 6
    downgraded = alembic(url, "downgrade", "base")
    assert downgraded.returncode == 0, downgraded.stderr
