"""The lanes of the models' own calls (issue 27): a bulk batch's model calls run in chunks that
let a live batch go next, and bulk inference runs on threads of lowered OS priority.

Deterministic: the order is forced with events, never with timing."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from services.fusion import worker as fusion
from services.fusion.classify import Pair
from services.image_encoder.encode import image_logits
from services.text_encoder.encode import text_logits
from shared.broker.lanes import BULK_CHUNK, BULK_NICE, LiveFirst, bulk_turn, chunks
from shared.contract import Lane
from shared.inference.backend import LocalBackend
from shared.inference.store import ModelStore
from shared.ml.model_repo import Manifest
from tests.unit.workers.fakes import MemoryJoiner


class Recording(LocalBackend):
    """The real ONNX backend; records each finished call's (lane, rows) and can hold a call of
    one lane until released."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.calls: list[tuple[Lane, int]] = []
        self.hold: dict[Lane, asyncio.Event] = {}
        self.holding: dict[Lane, asyncio.Event] = {"live": asyncio.Event(), "bulk": asyncio.Event()}

    async def infer(
        self, model: str, version: int, inputs: dict[str, np.ndarray], output: str, lane: Lane = "live"
    ) -> np.ndarray:
        result = await super().infer(model, version, inputs, output, lane)
        if lane in self.hold:
            self.holding[lane].set()
            await self.hold.pop(lane).wait()
        self.calls.append((lane, len(next(iter(inputs.values())))))
        return result


async def test_a_live_batch_is_one_chunk_and_a_bulk_batch_is_chunked() -> None:
    assert chunks("live", 20) == [range(20)]
    assert chunks("bulk", 20, 8) == [range(0, 8), range(8, 16), range(16, 20)]
    assert chunks("bulk", 8, 8) == [range(8)]
    assert chunks("bulk", 0, 8) == chunks("live", 0) == []
    gate = LiveFirst()
    async with gate.live():
        await asyncio.wait_for(bulk_turn("bulk"), 5)  # outside a worker's bulk batch: no gate
        async with gate.bulk():
            await asyncio.wait_for(bulk_turn("live"), 5)  # a live call never waits
            assert gate.bulk_waiting == 0


async def test_a_bulk_chunk_waits_while_a_live_batch_of_its_worker_runs() -> None:
    gate, order = LiveFirst(), []
    release = asyncio.Event()

    async def bulk_batch() -> None:
        async with gate.bulk():
            for rows in chunks("bulk", 3 * BULK_CHUNK):
                await bulk_turn("bulk")
                order.append(f"bulk {rows.start}")
                if rows.start == 0:
                    live.set()
                    await asyncio.sleep(0)

    async def live_batch() -> None:
        await live.wait()
        async with gate.live():
            order.append("live started")
            await release.wait()
            order.append("live done")

    live = asyncio.Event()
    tasks = [asyncio.create_task(bulk_batch()), asyncio.create_task(live_batch())]
    await asyncio.wait_for(_until(lambda: gate.bulk_waiting == 1), 5)
    assert order == ["bulk 0", "live started"]
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == ["bulk 0", "live started", "live done", f"bulk {BULK_CHUNK}", f"bulk {2 * BULK_CHUNK}"]


async def test_a_live_text_batch_runs_its_model_calls_before_the_next_bulk_call(
    model_repo: tuple[Path, Manifest],
) -> None:
    """The text encoder's bulk batch is held inside its first model call; a live batch starts
    meanwhile and is held inside its own: the bulk batch's next model call waits for it."""
    root, manifest = model_repo
    backend = Recording(root)
    store = ModelStore(root, backend, ("text",), 0)
    gate = LiveFirst()
    bulk_texts = ["un livre roman"] * (2 * BULK_CHUNK + 3)
    release_bulk, release_live = asyncio.Event(), asyncio.Event()
    backend.hold = {"bulk": release_bulk, "live": release_live}  # each lane's first call
    models = len(manifest.text_models)

    async def bulk() -> dict[str, np.ndarray]:
        async with gate.bulk():
            return await text_logits(backend, store, manifest, bulk_texts, "bulk")

    async def live() -> dict[str, np.ndarray]:
        async with gate.live():
            return await text_logits(backend, store, manifest, ["une console de jeu"] * 3, "live")

    bulk_task = asyncio.create_task(bulk())
    await asyncio.wait_for(backend.holding["bulk"].wait(), 30)
    live_task = asyncio.create_task(live())
    await asyncio.wait_for(backend.holding["live"].wait(), 30)
    release_bulk.set()  # the first bulk call ends while the live batch still runs
    await asyncio.wait_for(_until(lambda: gate.bulk_waiting == 1), 30)  # its next call waits
    assert backend.calls == [("bulk", BULK_CHUNK)]
    release_live.set()
    bulk_out, live_out = await asyncio.wait_for(asyncio.gather(bulk_task, live_task), 30)
    assert backend.calls == [
        ("bulk", BULK_CHUNK),
        *[("live", 3)] * models,
        *[("bulk", BULK_CHUNK)] * (2 * models - 1),
        *[("bulk", 3)] * models,
    ]
    # Chunked or not, the logits are the batch's own, in order.
    whole = await text_logits(backend, store, manifest, bulk_texts, "live")
    for name, logits in whole.items():
        np.testing.assert_allclose(bulk_out[name], logits, rtol=1e-5, atol=1e-6)
    assert all(v.shape[0] == 3 for v in live_out.values())


async def test_bulk_inference_runs_on_its_own_session_at_lowered_priority(
    model_repo: tuple[Path, Manifest],
) -> None:
    root, manifest = model_repo
    backend = Recording(root)
    store = ModelStore(root, backend, ("text",), 0)
    texts = ["un livre", "une console", "une pompe de piscine"]
    live = await text_logits(backend, store, manifest, texts, "live")
    bulk = await text_logits(backend, store, manifest, texts, "bulk")  # split across the threads
    for name, logits in live.items():
        np.testing.assert_allclose(bulk[name], logits, rtol=1e-5, atol=1e-6)
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def priority() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    loop, pool = asyncio.get_running_loop(), backend._bulk_pool()
    seen = await asyncio.gather(*(loop.run_in_executor(pool, priority) for _ in range(4)))
    assert set(seen) == {max(own, BULK_NICE)}
    spec = manifest.text_models[0]
    session = backend.session(spec.name, spec.triton_version, "live")
    assert backend.session(spec.name, spec.triton_version, "bulk") is not session
    await backend.close()


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for a condition (not a duration): work on other threads, a task reaching a wait."""
    while not condition():
        await asyncio.sleep(0.01)


async def test_fusion_classifies_a_bulk_batch_in_chunks_that_wait_for_live_work(
    model_repo: tuple[Path, Manifest],
) -> None:
    root, _ = model_repo
    store = ModelStore(root, poll_interval_s=0)
    store.fusion(await store.current())
    deps = fusion.Deps(MemoryJoiner(), store, 3)
    pairs = [Pair(None, None)] * (BULK_CHUNK + 1)  # unclassifiable: no model needed, order kept
    gate, order = LiveFirst(), []

    async def bulk() -> None:
        async with gate.bulk():
            results = await fusion.classify_in_turns(deps, pairs, "bulk")
            order.append(f"bulk {len(results)}")

    async with gate.live():
        task = asyncio.create_task(bulk())
        await asyncio.wait_for(_until(lambda: gate.bulk_waiting == 1), 5)
        order.append("live")
    await asyncio.wait_for(task, 5)
    assert order == ["live", f"bulk {BULK_CHUNK + 1}"]


async def test_a_chunked_bulk_image_batch_gives_the_logits_of_the_whole_batch(
    model_repo: tuple[Path, Manifest],
) -> None:
    root, manifest = model_repo
    backend = Recording(root)
    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)) for _ in range(BULK_CHUNK + 2)
    ]
    bulk = await image_logits(backend, manifest, images, "bulk")
    whole = await image_logits(backend, manifest, images, "live")
    models = len(manifest.image_models)
    assert (
        backend.calls
        == [("bulk", BULK_CHUNK)] * models + [("bulk", 2)] * models + [("live", len(images))] * models
    )
    for name, logits in whole.items():
        np.testing.assert_allclose(bulk[name], logits, rtol=1e-5, atol=1e-6)
    await backend.close()
