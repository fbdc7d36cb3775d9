"""The dashboard page in headless Chromium, served by a real ``catalog api`` process."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.bench.seed import seed_database
from shared.db.jobs import JobFilter, create_job
from shared.db.session import session_scope, upgrade
from tests.conftest import REDIS_URL
from tests.integration.api.lifecycle_seed import seed_lifecycle

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs chromium: run deploy/scripts/install-chromium.sh"
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_api(database_url: str, prefix: str, port: int, **extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **extra,
        "CATALOG_DATABASE_URL": database_url,
        "CATALOG_REDIS_URL": REDIS_URL,
        "CATALOG_STREAM_PREFIX": prefix,
        "CATALOG_LOG_LEVEL": "WARNING",
    }
    cmd = [sys.executable, "-m", "services.cli.main", "api", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"catalog api exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code in (200, 503):
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("catalog api did not start in 60 s")


def chromium(url: str, profile: Path, *extra: str) -> str:
    """Run headless Chromium on ``url`` (JS runs until the page is idle); its stdout."""
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=15000",
        "--window-size=1400,1250", *extra, url,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout.decode()


@pytest.fixture
def dashboard_url(postgres_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[str]:
    upgrade(postgres_url)
    seed_database(postgres_url, 300, n_listings=150, days=0.9)
    seed_lifecycle(postgres_url, tmp_path / "repo")
    with session_scope(postgres_url) as s:
        create_job(s, JobFilter(), max_in_flight=50)
    port = free_port()
    proc = serve_api(postgres_url, redis_prefix, port, CATALOG_MODEL_REPOSITORY=str(tmp_path / "repo"))
    try:
        yield f"http://127.0.0.1:{port}/dashboard"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def text_of(dom: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', dom)
    assert match, f"#{element_id} not in the page"
    return match.group(1)


def test_dashboard_shows_distribution_review_queue_throughput_and_jobs(
    dashboard_url: str, tmp_path: Path
) -> None:
    dom = chromium(dashboard_url, tmp_path / "profile", "--dump-dom")
    assert 'data-loaded="true"' in dom, "the page's JavaScript did not finish a refresh"
    assert text_of(dom, "total-predictions") == "540"  # 300 seeded + 240 recent live, no shadow
    counts = [int(n) for n in re.findall(r'<td class="num count">(\d+)</td>', dom)]
    assert sum(counts) == 540 and len(counts) == int(text_of(dom, "categories-count"))
    assert int(text_of(dom, "review-total")) > 0
    assert text_of(dom, "lag-mean").endswith(" s")
    assert dom.count("<rect ") >= 2  # throughput bars were drawn
    assert 'class="status-pending">pending<' in dom  # the job
    assert "✓ accept" in dom  # one-click review
    # the labelling menu searches the taxonomy's names and paths; the queue shows paths
    assert '<option value="2583 Jardin &amp; piscine &gt; Equipement piscine &amp; spa">' in dom
    assert 'class="review-search"' in dom and re.search(r"<div>\d+ [^<]+ &gt; [^<]+ <span", dom)
    assert text_of(dom, "labels-note") == "(40 labels: 32 accepted, 8 corrected)"  # seeded
    assert '<td class="st-alert">alert</td>' in dom and "ja 2" in dom  # the language drift
    assert text_of(dom, "drift-badge").startswith("score ")
    assert re.search(r"<td>r1</td><td>r3</td><td class=\"num\">60</td>", dom)  # shadow agreement
    # auto-accept: r1's coverage and the live precision of its labelled `auto` predictions
    auto = re.search(r'<td>r1</td><td class="num">(0\.\d{3}) .*?<td class="num">(\d+)</td>', dom)
    assert auto and 0 < float(auto.group(1)) < 1 and int(auto.group(2)) > 0
    assert text_of(dom, "auto-note").startswith("(target precision 0.98;")
    shot = tmp_path / "dashboard.png"
    chromium(dashboard_url, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1400,1750")
    assert shot.stat().st_size > 10_000
    if os.environ.get("DASHBOARD_SCREENSHOT"):  # refresh docs/dashboard.png
        shutil.copyfile(shot, os.environ["DASHBOARD_SCREENSHOT"])


def seed_review_queue(database_url: str, photos: Path) -> None:
    """Three low-confidence listings with content (two with a photo) for the tiny explain repository."""
    import numpy as np
    from PIL import Image

    from services.writer.worker import write_batch
    from shared.contract import ListingSubmitted
    from shared.db.listings import upsert_listings
    from tests.support.factories import classified_event

    photos.mkdir(parents=True, exist_ok=True)
    pixels = np.full((90, 90, 3), 128, dtype=np.uint8)
    pixels[54:72, 18:36] = (250, 250, 10)  # a yellow spot: the pool class's colour
    Image.fromarray(pixels).save(photos / "pool.png")
    offers = [
        ListingSubmitted.new("R1", title="Piscine superbe lego", image_uri=f"file://{photos / 'pool.png'}"),
        ListingSubmitted.new("R2", title="Console de jeu, état neuf", image_uri=None),
        ListingSubmitted.new("R3", title="Roman poupée", image_uri=f"file://{photos / 'missing.png'}"),
    ]
    upgrade(database_url)
    with session_scope(database_url) as session:
        upsert_listings(session, offers)
        session.commit()
    events = [
        classified_event(o.listing_id, 10, 0.3 + 0.05 * i, model_version="r1-test")
        for i, o in enumerate(offers)
    ]
    write_batch(database_url, events)


def test_review_queue_shows_top3_words_and_heatmap(
    postgres_url: str, redis_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.explain.repo import build_explain_repository

    build_explain_repository(tmp_path / "repo")
    seed_review_queue(postgres_url, tmp_path / "photos")
    # monkeypatch restores the suite's values afterwards (popping them once removed the
    # suite-wide CATALOG_TRANSLATOR=none, and later `catalog train` runs tried google).
    monkeypatch.setenv("CATALOG_MODEL_REPOSITORY", str(tmp_path / "repo"))
    monkeypatch.setenv("CATALOG_TRANSLATOR", "none")
    monkeypatch.setenv("CATALOG_IMAGE_ROOTS", json.dumps([str(tmp_path)]))
    port = free_port()
    proc = serve_api(postgres_url, redis_prefix, port)
    try:
        url = f"http://127.0.0.1:{port}/dashboard"
        dom = chromium(url, tmp_path / "profile", "--dump-dom")
        assert dom.count('class="why"') == 3, "every queued offer shows its explanation"
        assert dom.count('<img class="heat"') == 1
        assert "no photo (not_found)" in dom and "no photo (no_image)" in dom
        assert re.search(r'class="chip for"[^>]*>piscine<', dom) and re.search(
            r'class="chip against"[^>]*>lego<', dom
        )
        row = dom[dom.index(">R1</a>") :].split("</tr>")[0]
        assert len(re.findall(r"<div>\d+ ", row)) == 3  # R1's top-3 categories
        shot = tmp_path / "review.png"
        chromium(url, tmp_path / "profile2", f"--screenshot={shot}")
        assert shot.stat().st_size > 10_000
    finally:
        proc.terminate()
        proc.wait(timeout=20)
