"""A worker's Prometheus endpoint counts processed, invalid and dead messages."""

from __future__ import annotations

import socket
import urllib.request

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from shared.broker import EventPublisher, read_events
from shared.config import Settings
from shared.contract import DeadLetter, ListingPrepared, ListingSubmitted, Stream
from tests.conftest import REDIS_URL
from tests.integration.broker.crashy_worker import create_worker

STREAM = str(Stream.SUBMITTED)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def counted(outcome: str) -> float:
    labels = {"worker": "crashy", "stream": STREAM, "outcome": outcome}
    return REGISTRY.get_sample_value("catalog_worker_messages_total", labels) or 0.0


def scrape(port: int) -> dict[str, float]:
    """``outcome -> count`` of the crashy worker on the live ``listings.submitted``, as
    Prometheus would read it over HTTP."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "catalog_worker_messages_total"
                and labels.get("worker") == "crashy"
                and labels.get("stream") == STREAM  # the live lane; other tests use the bulk one
            ):
                values[sample.labels["outcome"]] = sample.value
    return values


async def test_worker_metrics_endpoint_counts_outcomes(redis_prefix: str) -> None:
    port = free_port()
    settings = Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        reclaim_idle_ms=200,
        max_deliveries=2,
        metrics_port=port,
    )
    before = {o: counted(o) for o in ("processed", "invalid", "dead", "failed")}
    worker = create_worker(settings)
    async with worker.running():
        async with EventPublisher(settings) as pub:
            await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("ok-1", "fine")])
            await read_events(settings, Stream.PREPARED, ListingPrepared, count=1, timeout_s=20)
            await pub.redis.xadd(settings.key(Stream.SUBMITTED), {"__data__": b"{not json"})
            await pub.publish(Stream.SUBMITTED, [ListingSubmitted.new("bad", "always-fail")])
            await read_events(settings, Stream.DEAD, DeadLetter, count=2, timeout_s=30)
        scraped = scrape(port)
    assert scraped["processed"] - before["processed"] == 1
    assert scraped["invalid"] - before["invalid"] == 1
    assert scraped["dead"] - before["dead"] == 1
    assert scraped["failed"] - before["failed"] == 2  # two deliveries before the dead letter
