"""The priority lane without Redis: stream names, the lane carried by every handler's output,
the key each output is published to, and the live-first gate of a worker process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from services.fusion import worker as fusion
from services.language import worker as language
from services.language.logic import Preparer
from services.text_encoder import worker as text_encoder
from shared.broker import Emit, Outcome
from shared.broker.lanes import LanePool, LiveFirst, lane_of, stream_key
from shared.config import Settings
from shared.contract import (
    DeadLetter,
    ImageFeatures,
    ListingSubmitted,
    Origin,
    Stream,
    lane_stream,
    lanes_of,
)
from shared.inference.backend import LocalBackend
from shared.inference.store import ModelStore
from shared.ml.model_repo import Manifest
from tests.unit.workers.fakes import MemoryJoiner, MemoryPins


def test_every_pipeline_stream_has_a_bulk_twin_and_dead_letters_one_stream() -> None:
    assert lane_stream(Stream.SUBMITTED, "live") == "listings.submitted"
    assert lane_stream(Stream.SUBMITTED, "bulk") == "listings.submitted.bulk"
    assert lane_stream(Stream.DEAD, "bulk") == "listings.dead"
    assert lanes_of(Stream.DEAD) == ("live",)
    assert all(lanes_of(s) == ("live", "bulk") for s in Stream if s != Stream.DEAD)


def test_payloads_without_a_lane_are_live_and_the_envelope_carries_it() -> None:
    old = '{"submission_id": "6f1c7d3e-8a52-4b8e-9f0e-0d3c2b1a9e77", "listing_id": "1", "title": "t"}'
    assert ListingSubmitted.model_validate_json(old).lane == "live"
    bulk = ListingSubmitted.new("1", "t", origin=Origin(kind="reclassify"), lane="bulk")
    assert bulk.stamped("prepared").envelope()["lane"] == "bulk"
    assert ListingSubmitted.model_validate_json(bulk.model_dump_json()).lane == "bulk"
    # A live payload is byte for byte what it was before lanes (older workers forbid new fields).
    assert '"lane"' not in ListingSubmitted.new("1", "t").model_dump_json()
    assert '"lane":"bulk"' in bulk.model_dump_json()


def test_an_event_is_published_on_its_lanes_stream() -> None:
    settings = Settings(stream_prefix="p:")
    live, bulk = ListingSubmitted.new("1", "t"), ListingSubmitted.new("2", "t", lane="bulk")
    assert stream_key(settings, Stream.SUBMITTED, live) == "p:listings.submitted"
    assert stream_key(settings, Stream.SUBMITTED, bulk) == "p:listings.submitted.bulk"
    letter = DeadLetter(
        stream="listings.submitted",
        lane="bulk",
        worker="w",
        reason="invalid_payload",
        error="e",
        attempts=1,
        payload="{}",
    )
    assert stream_key(settings, Stream.DEAD, letter) == "p:listings.dead"
    assert lane_of(object()) == "live"


def events_of(outcomes: Sequence[Outcome]) -> list[Any]:
    return [o.event for o in outcomes if isinstance(o, Emit)]


async def test_a_bulk_offer_stays_on_the_bulk_lane_through_every_handler(
    model_repo: tuple[Path, Manifest],
) -> None:
    root, manifest = model_repo
    settings = Settings(model_repository=root, translator="none", image_roots=[root.parent])
    offer = ListingSubmitted.new("a", title="un livre roman", origin=Origin(kind="reclassify"), lane="bulk")
    backend = LocalBackend(root)
    prepared = await language.prepare([offer], language.Deps(Preparer.from_settings(settings)))
    enc_deps = text_encoder.Deps(MemoryPins(), backend, ModelStore(root, backend, ("text",), 0))
    text = await text_encoder.encode(events_of(prepared), enc_deps)
    store = ModelStore(root, poll_interval_s=0)
    store.fusion(await store.current())
    deps = fusion.Deps(MemoryJoiner(), store, settings.top_k)
    image_half = ImageFeatures(
        **offer.stamped("image_encoded").envelope(),
        model_version=manifest.version,
        status="missing",
        reason="no_image",
    )
    await fusion.on_text(events_of(text), deps)
    classified = await fusion.on_image([image_half], deps)
    emits = [o for o in [*prepared, *text, *classified] if isinstance(o, Emit)]
    assert [e.stream for e in emits] == [Stream.PREPARED, Stream.TEXT_FEATURES, Stream.CLASSIFIED]
    assert [stream_key(settings, e.stream, e.event) for e in emits] == [
        "listings.prepared.bulk",
        "features.text.bulk",
        "listings.classified.bulk",
    ]


async def test_a_bulk_read_waits_while_a_live_batch_runs() -> None:
    gate = LiveFirst()
    await asyncio.wait_for(gate.before_bulk_read(), 1)  # nothing live: at once
    order: list[str] = []
    release_live = asyncio.Event()

    async def live_batch() -> None:
        async with gate.live():
            order.append("live started")
            await release_live.wait()
            order.append("live done")

    async def bulk_read() -> None:
        await gate.before_bulk_read()
        order.append("bulk read")

    live = asyncio.create_task(live_batch())
    await asyncio.sleep(0)
    bulk = asyncio.create_task(bulk_read())
    for _ in range(5):  # the bulk reader gets many turns, and still waits
        await asyncio.sleep(0)
    assert order == ["live started"] and gate.live_running == 1
    release_live.set()
    await asyncio.wait_for(asyncio.gather(live, bulk), 1)
    assert order == ["live started", "live done", "bulk read"]


async def test_a_live_read_completed_during_a_bulk_batch_goes_before_the_next_bulk_read() -> None:
    """The gate lets the loop run once before a bulk read: a live batch whose read is ready
    starts first (it then holds the bulk lane back)."""
    gate = LiveFirst()
    order: list[str] = []
    live_ready = asyncio.Event()

    async def live_subscriber() -> None:
        await live_ready.wait()  # its XREADGROUP returned while the bulk batch held the loop
        async with gate.live():
            order.append("live batch")
            await asyncio.sleep(0)

    async def bulk_subscriber() -> None:
        order.append("bulk batch")
        live_ready.set()  # a live entry arrived meanwhile
        await gate.before_bulk_read()
        order.append("next bulk read")

    await asyncio.wait_for(asyncio.gather(live_subscriber(), bulk_subscriber()), 1)
    assert order == ["bulk batch", "live batch", "next bulk read"]


def test_lane_pool_runs_queued_live_work_before_queued_bulk_work() -> None:
    pool = LanePool(1, "test")
    started, release = threading.Event(), threading.Event()
    order: list[str] = []

    def blocker() -> None:  # the one thread busy with a bulk item while the rest queue up
        started.set()
        release.wait(10)

    first = pool.submit("bulk", blocker)
    assert started.wait(10)
    queued = [
        pool.submit(lane, lambda name=name: order.append(name))
        for lane, name in (
            ("bulk", "bulk-1"),
            ("bulk", "bulk-2"),
            ("live", "live-1"),
            ("bulk", "bulk-3"),
            ("live", "live-2"),
        )
    ]
    release.set()
    for future in [first, *queued]:
        future.result(10)
    assert order == ["live-1", "live-2", "bulk-1", "bulk-2", "bulk-3"]


async def test_lane_pool_hands_back_results_and_errors() -> None:
    pool = LanePool(2, "test")
    assert await pool.run("live", lambda: 6 * 7) == 42

    def fail() -> None:
        raise ValueError("bad photo")

    with pytest.raises(ValueError, match="bad photo"):
        await pool.run("bulk", fail)
