"""One trace per offer across the hops: the API and real workers (language, encoders, fusion,
writer on real Redis, a tiny model repository, SQLite) export their spans over OTLP/HTTP to a
real receiver started here; an unreachable or hanging receiver never holds an offer back."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.cli.wiring import api_app
from services.fusion.worker import create_worker as fusion_worker
from services.image_encoder.worker import create_worker as image_worker
from services.language.worker import create_worker as language_worker
from services.text_encoder.worker import create_worker as text_worker
from services.writer.worker import create_worker as writer_worker
from shared import tracing
from shared.broker import EventPublisher, read_events
from shared.config import Settings
from shared.contract import ListingClassified, ListingSubmitted, Stream
from tests.conftest import REDIS_URL
from tests.integration.inference.test_workers import offers, write_images
from tests.unit.inference.repo_fixture import build_repository
from tools.standins.otlp import ExportedSpan, OtlpReceiver

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
WORKERS = (language_worker, text_worker, image_worker, fusion_worker)


@pytest.fixture
def settings(redis_prefix: str, tmp_path: Path) -> Settings:
    write_images(tmp_path)
    return Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        model_repository=tmp_path / "model_repository",
        model_poll_interval_s=0,
        translator="none",
        image_roots=[tmp_path],
        batch_size=8,
        reclaim_idle_ms=2000,
        database_url=f"sqlite:///{tmp_path / 'catalog.db'}",
        api_auth="off",
        drift_interval_s=0,
    )


@pytest.fixture(autouse=True)
def _repository(settings: Settings) -> None:
    build_repository(settings.model_repository)


async def wait_for_spans(
    receiver: OtlpReceiver, submission_id: object, names: set[str]
) -> list[ExportedSpan]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        spans = receiver.of(submission_id)
        if names <= {s.name for s in spans}:
            return spans
        await asyncio.sleep(0.1)
    return receiver.of(submission_id)


STAGES = {
    "language listings.submitted",
    "image-encoder listings.submitted",
    "text-encoder listings.prepared",
    "fusion features.text",
    "fusion features.image",
    "writer listings.classified",
}


async def test_one_trace_per_offer_from_the_api_to_the_writer(settings: Settings, tmp_path: Path) -> None:
    receiver = OtlpReceiver()
    with receiver.serve() as url:
        settings = settings.model_copy(update={"otlp_endpoint": url})
        offer = {"listing_id": "t1", "title": "Console de jeu", "image_uri": f"file://{tmp_path}/img0.jpg"}
        other = {"listing_id": "t2", "title": "Lego technic"}
        async with AsyncExitStack() as stack:
            for factory in (*WORKERS, writer_worker):
                await stack.enter_async_context(factory(settings).running())
            client = stack.enter_context(TestClient(api_app(settings)))
            caller = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "tracestate": "vendor=abc"}
            first = await asyncio.to_thread(client.post, "/v1/listings", json=offer, headers=caller)
            # A malformed header from outside is ignored: the offer starts a trace of its own.
            bad = {"traceparent": f"00-{CALLER_TRACE.upper()}-{CALLER_SPAN}-01"}
            second = await asyncio.to_thread(client.post, "/v1/listings", json=other, headers=bad)
            assert first.status_code == second.status_code == 202, (first.text, second.text)
            assert len(await read_events(settings, Stream.CLASSIFIED, ListingClassified, 2, 60)) == 2
            for listing in ("t1", "t2"):
                await wait_for_stored(client, listing)
        ids = [r.json()["submissions"][0]["submission_id"] for r in (first, second)]
        spans = await wait_for_spans(receiver, ids[0], {"publish listings.submitted", *STAGES})
        by_name = {s.name: s for s in spans}
        assert set(by_name) == {"publish listings.submitted", *STAGES}, sorted(by_name)
        assert len(spans) == len(by_name)  # one span per stage
        assert {s.trace_id for s in spans} == {CALLER_TRACE}
        assert_parents(by_name, root_parent=CALLER_SPAN)
        assert by_name["publish listings.submitted"].service == "catalog-api"
        assert by_name["writer listings.classified"].service == "catalog-writer"

        own = await wait_for_spans(receiver, ids[1], {"publish listings.submitted", *STAGES})
        own_by_name = {s.name: s for s in own}
        assert len({s.trace_id for s in own}) == 1 and own[0].trace_id != CALLER_TRACE
        assert_parents(own_by_name, root_parent="")


async def wait_for_stored(client: TestClient, listing_id: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = await asyncio.to_thread(client.get, f"/v1/listings/{listing_id}")
        if got.status_code == 200 and got.json()["current"] is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{listing_id} was never stored")


def assert_parents(by_name: dict[str, ExportedSpan], root_parent: str) -> None:
    """Each stage's span is the child of the span that published its input."""
    publish = by_name["publish listings.submitted"]
    language, image = by_name["language listings.submitted"], by_name["image-encoder listings.submitted"]
    text = by_name["text-encoder listings.prepared"]
    fusion_text, fusion_image = by_name["fusion features.text"], by_name["fusion features.image"]
    writer = by_name["writer listings.classified"]
    assert publish.parent_span_id == root_parent
    assert language.parent_span_id == image.parent_span_id == publish.span_id
    assert text.parent_span_id == language.span_id
    assert fusion_text.parent_span_id == text.span_id
    assert fusion_image.parent_span_id == image.span_id
    # The half that completed the join parents the prediction; it links to the other half.
    assert writer.parent_span_id in (fusion_text.span_id, fusion_image.span_id)
    if writer.parent_span_id == fusion_image.span_id:
        assert (text.trace_id, text.span_id) in fusion_image.links
    assert not any(s.error for s in by_name.values())


async def test_a_malformed_traceparent_on_the_stream_starts_a_new_trace(settings: Settings) -> None:
    """An event published by someone else with a traceparent outside the W3C grammar is read
    (never dead-lettered for it) and its first stage starts a fresh trace."""
    receiver = OtlpReceiver()
    with receiver.serve() as url:
        settings = settings.model_copy(update={"otlp_endpoint": url})
        event = ListingSubmitted.new("m1", title="Roman policier livre")
        # model_copy skips validation: the payload on the stream carries the bad value as is.
        forged = event.model_copy(update={"traceparent": "00-zz-not-a-trace-01", "tracestate": "a=b"})
        async with AsyncExitStack() as stack:
            for factory in WORKERS:
                await stack.enter_async_context(factory(settings).running())
            async with EventPublisher(settings) as publisher:
                await publisher.publish(Stream.SUBMITTED, [forged])
            classified = await read_events(settings, Stream.CLASSIFIED, ListingClassified, 1, 60)
        assert [c.submission_id for c in classified] == [event.submission_id]
        assert classified[0].traceparent is not None and "zz" not in classified[0].traceparent
        spans = await wait_for_spans(receiver, event.submission_id, STAGES - {"writer listings.classified"})
        by_name = {s.name: s for s in spans}
        language, image = by_name["language listings.submitted"], by_name["image-encoder listings.submitted"]
        # Each first stage is the root of a new trace (the two readers of the stream cannot agree
        # on one); the later stages follow their input's.
        assert language.parent_span_id == image.parent_span_id == ""
        assert by_name["text-encoder listings.prepared"].trace_id == language.trace_id
        assert by_name["fusion features.image"].trace_id == image.trace_id


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("down", ["hangs", "refuses"])
async def test_a_receiver_that_is_down_never_holds_offers_back(
    settings: Settings, tmp_path: Path, refused_url: str, down: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hanging receiver holds each export for EXPORT_TIMEOUT_S (raised to 10 minutes here):
    once every worker's exporter is stuck in a request, a second batch of offers is still
    classified, so no worker waits on its exporter. A refused connection is the easy case."""
    monkeypatch.setattr(tracing, "EXPORT_TIMEOUT_S", 600.0 if down == "hangs" else 2.0)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # export soon after the first spans
    receiver = OtlpReceiver(hold=True)
    first, second = offers(tmp_path, 6, "d"), offers(tmp_path, 6, "e")
    with receiver.serve() as url:
        settings = settings.model_copy(update={"otlp_endpoint": url if down == "hangs" else refused_url})
        async with AsyncExitStack() as stack:
            for factory in WORKERS:
                await stack.enter_async_context(factory(settings).running())
            publisher = await stack.enter_async_context(EventPublisher(settings))
            stack.callback(receiver.released.set)  # before the flushes of the exits above
            await publisher.publish(Stream.SUBMITTED, first)
            assert len(await read_events(settings, Stream.CLASSIFIED, ListingClassified, 6, 60)) == 6
            if down == "hangs":  # the publisher's and each worker's exporter wait on the receiver
                await wait_until(lambda: receiver.requests >= 1 + len(WORKERS))
            await publisher.publish(Stream.SUBMITTED, second)
            classified = await read_events(settings, Stream.CLASSIFIED, ListingClassified, 12, 60)
            assert {c.submission_id for c in classified} == {s.submission_id for s in first + second}
            assert all(c.traceparent for c in classified)
            assert receiver.spans == []  # nothing was received: every export is still held (or refused)


async def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        await asyncio.sleep(0.05)
