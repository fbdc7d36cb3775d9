"""``catalog prepare`` and ``catalog bench language`` as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from shared.contract import ListingPrepared
from tools.standins.translator import running_standin

CATALOG = str(Path(sys.executable).with_name("catalog"))


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CATALOG, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **env}
    )


def test_prepare_prints_the_prepared_event() -> None:
    result = run(
        "prepare", "--title", "Neue Box, nie geöffnet", "-d", "<p>Komplett mit Anleitung &amp; Zubehör</p>",
        "--json", CATALOG_TRANSLATOR="none",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    prepared = ListingPrepared.model_validate_json(result.stdout)
    assert prepared.text == "Neue Box, nie geöffnet . Komplett mit Anleitung & Zubehör"
    assert (prepared.language.code, prepared.translation.status) == ("de", "disabled")
    assert "prepared" in prepared.timestamps


def test_prepare_with_retry_policy_and_no_provider_says_what_to_do() -> None:
    result = run(
        "prepare", "--title", "Brand new box never opened, complete with the manual",
        CATALOG_TRANSLATOR="google", CATALOG_TRANSLATOR_URL="http://127.0.0.1:9/",
        CATALOG_TRANSLATION_ON_FAILURE="retry", CATALOG_TRANSLATION_MAX_RETRIES="0",
    )  # fmt: skip
    assert result.returncode == 2
    assert "translation failed" in result.stderr and "CATALOG_TRANSLATOR=none" in result.stderr
    assert "Traceback" not in result.stderr


def test_bench_writes_json(tmp_path: Path, redis_prefix: str) -> None:
    out = tmp_path / "bench.json"
    with running_standin() as standin:
        result = run(
            "bench", "language", "--json", str(out), "--n", "64", "--standin-url", standin.url,
            CATALOG_REDIS_URL="redis://127.0.0.1:6379/0", CATALOG_STREAM_PREFIX=redis_prefix,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert set(data["modes"]) == {"none", "standin"}
    for mode in data["modes"].values():
        assert mode["logic"]["offers"] == mode["worker"]["offers"] == 64
        assert mode["logic"]["offers_per_s"] > 0
    assert data["modes"]["none"]["logic"]["translation_calls"] == 0
    assert data["modes"]["standin"]["logic"]["translation_status"].get("translated", 0) > 0


def test_translator_standin_serves_the_real_client_until_terminated() -> None:
    from services.language.providers import build_client

    process = subprocess.Popen(
        [sys.executable, "-m", "tools.standins", "translator", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        url = line.split(" on ", 1)[1].split()[0]
        assert build_client("google", "en", url, None).translate("the new book") == "le neuf livre"
    finally:
        process.terminate()
        _, rest = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "served 1 calls (0 failed)" in rest
