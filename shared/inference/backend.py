"""One inference interface, two implementations (docs/architecture.md §5).

``local`` runs ONNX Runtime in-process on the repository's files (the embedded default);
``triton`` sends the same tensors to a Triton server. Both address a model by its repository name
and the Triton version directory the manifest names, so a prediction never mixes revisions.

This module holds the interface (and the local implementation); ``shared/inference/triton.py``
builds on it, and ``shared/inference/factory.py`` picks one of the two, so imports run one way.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from shared.contract import Lane
from shared.dependencies import DependencyUnavailable
from shared.ml.model_repo import Manifest

log = logging.getLogger(__name__)


class InferenceError(RuntimeError):
    """A model could not be run (missing file, server down, bad tensor)."""


class BackendUnavailable(InferenceError, DependencyUnavailable):
    """The inference server is unreachable or does not serve the model (restarting): an
    outage, held and retried by the broker helper without counting deliveries."""

    dependency = "triton"


class InferenceBackend(Protocol):
    """Runs one model on one batch of named tensors and returns one named output."""

    name: str

    async def infer(
        self, model: str, version: int, inputs: dict[str, np.ndarray], output: str, lane: Lane = "live"
    ) -> np.ndarray:
        """``output`` of ``model`` on ``inputs``; ``lane``: the batch's lane (bulk work yields
        the CPU to live work where the backend can order them)."""
        ...

    async def ensure_loaded(self, manifest: Manifest, kinds: tuple[str, ...] = ("text", "image")) -> None:
        """Make every model of ``manifest`` (of the given kinds) ready to serve."""
        ...

    async def close(self) -> None: ...


def manifest_models(manifest: Manifest, kinds: tuple[str, ...] = ("text", "image")) -> list[tuple[str, int]]:
    """(model name, Triton version) of every model of the given kinds."""
    models: list[tuple[str, int]] = []
    if "text" in kinds:
        models += [(m.name, m.triton_version) for m in manifest.text_models]
    if "image" in kinds:
        models += [(m.name, m.triton_version) for m in manifest.image_models]
    return models


class LocalBackend:
    """ONNX Runtime sessions, one per (model, version), created on first use and kept.

    Sessions of older revisions stay cached so events pinned to them are still served; the
    number of revisions kept is bounded by ``keep_revisions`` per model.

    Bulk calls run on their own session of the model with one intra-op thread, on threads of
    lowered OS priority (``shared.broker.lanes.lower_thread_priority``), one per core, each on a
    part of the batch: a live call in any process of the machine preempts bulk inference instead
    of sharing the cores with it (issue 27). One thread per part, not an intra-op pool: a pool's
    threads meet at a barrier after every operator, so one low-priority thread preempted held
    the others (measured: bulk throughput halved). Cost: a second session per model in a
    process that serves bulk work, created on its first bulk call.
    """

    name = "local"

    def __init__(self, repository: Path, threads: int = 0, keep_revisions: int = 3) -> None:
        self.repository = Path(repository)
        self.threads = threads
        self.keep_revisions = keep_revisions
        self._sessions: dict[tuple[str, int, Lane], Any] = {}
        self._lock = threading.Lock()
        self._bulk: ThreadPoolExecutor | None = None
        self.bulk_threads = threads if threads > 0 else (os.cpu_count() or 1)

    def session(self, model: str, version: int, lane: Lane = "live") -> Any:
        """The cached session of ``model`` at ``version`` for ``lane`` (thread-safe; a bulk
        session runs one intra-op thread, see the class docstring)."""
        key = (model, version, lane)
        with self._lock:
            session = self._sessions.get(key)
        if session is None:  # loaded outside the lock: lookups of loaded sessions never wait for it
            loaded = self._load(model, version, 1 if lane == "bulk" else self.threads)
            with self._lock:
                session = self._sessions.setdefault(key, loaded)
                self._evict(model, lane)
        return session

    def _load(self, model: str, version: int, threads: int) -> Any:
        import onnxruntime as ort

        path = self.repository / model / str(version) / "model.onnx"
        if not path.is_file():
            raise InferenceError(f"No ONNX file at {path}: is the model repository complete?")
        options = ort.SessionOptions()
        # Idle intra-op threads sleep instead of spinning: the encoders share the cores with
        # each other, the photo decoders and Redis, and a spinning pool steals their CPU.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads > 0:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        log.info("loading onnx model", extra={"model": model, "version": version})
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _evict(self, model: str, lane: Lane) -> None:
        versions = sorted(v for (name, v, of) in self._sessions if name == model and of == lane)
        for old in versions[: -self.keep_revisions]:
            del self._sessions[(model, old, lane)]

    def run(
        self, model: str, version: int, inputs: dict[str, np.ndarray], output: str, lane: Lane = "live"
    ) -> np.ndarray:
        """Synchronous inference (used by benchmarks and the thread pools)."""
        session = self.session(model, version, lane)
        names = {i.name for i in session.get_inputs()}
        feed = {k: v for k, v in inputs.items() if k in names}
        result = session.run([output], feed)[0]
        return np.asarray(result, dtype=np.float32)

    async def infer(
        self, model: str, version: int, inputs: dict[str, np.ndarray], output: str, lane: Lane = "live"
    ) -> np.ndarray:
        if lane == "bulk":
            return await self._infer_bulk(model, version, inputs, output)
        return await asyncio.to_thread(self.run, model, version, inputs, output)

    async def _infer_bulk(
        self, model: str, version: int, inputs: dict[str, np.ndarray], output: str
    ) -> np.ndarray:
        """The batch split in one part per bulk thread, the parts run side by side.

        The low-priority threads only run the session: its lookup or creation (which holds
        this backend's lock and the GIL) stays at normal priority: a low-priority thread
        preempted while holding either stalls the live calls of this process (a run with the
        sessions created on those threads held two live text batches 250-350 ms, the likely
        cause; docs/benchmarks/pipeline.md)."""
        session: Any = self._sessions.get((model, version, "bulk"))
        if session is None:
            session = await asyncio.to_thread(self.session, model, version, "bulk")
        names = {i.name for i in session.get_inputs()}
        feed = {k: v for k, v in inputs.items() if k in names}
        rows = len(next(iter(feed.values())))
        bounds = np.linspace(0, rows, min(rows, self.bulk_threads) + 1).astype(int)
        loop, pool = asyncio.get_running_loop(), self._bulk_pool()
        parts = [
            loop.run_in_executor(pool, session.run, [output], {k: v[i:j] for k, v in feed.items()})
            for i, j in itertools.pairwise(bounds)
        ]
        results = [np.asarray(part[0], dtype=np.float32) for part in await asyncio.gather(*parts)]
        return results[0] if len(results) == 1 else np.concatenate(results)

    def _bulk_pool(self) -> ThreadPoolExecutor:
        """The bulk threads, each lowering its own priority once when it starts."""
        with self._lock:
            if self._bulk is None:
                from shared.broker.lanes import lower_thread_priority

                self._bulk = ThreadPoolExecutor(
                    self.bulk_threads, "bulk-inference", initializer=lower_thread_priority
                )
            return self._bulk

    async def ensure_loaded(self, manifest: Manifest, kinds: tuple[str, ...] = ("text", "image")) -> None:
        for model, version in manifest_models(manifest, kinds):
            await asyncio.to_thread(self.session, model, version)

    async def close(self) -> None:
        self._sessions.clear()
        if self._bulk is not None:
            self._bulk.shutdown(wait=False)
            self._bulk = None
