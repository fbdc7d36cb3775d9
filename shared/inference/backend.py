"""One inference interface, two implementations (docs/architecture.md §5).

``local`` runs ONNX Runtime in-process on the repository's files (the embedded default);
``triton`` sends the same tensors to a Triton server. Both address a model by its repository name
and the Triton version directory the manifest names, so a prediction never mixes revisions.

This module holds the interface (and the local implementation); ``shared/inference/triton.py``
builds on it, and ``shared/inference/factory.py`` picks one of the two, so imports run one way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

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
        self, model: str, version: int, inputs: dict[str, np.ndarray], output: str
    ) -> np.ndarray: ...

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
    """

    name = "local"

    def __init__(self, repository: Path, threads: int = 0, keep_revisions: int = 3) -> None:
        self.repository = Path(repository)
        self.threads = threads
        self.keep_revisions = keep_revisions
        self._sessions: dict[tuple[str, int], Any] = {}
        self._lock = threading.Lock()

    def session(self, model: str, version: int) -> Any:
        """The cached session of ``model`` at ``version`` (thread-safe)."""
        key = (model, version)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                session = self._load(model, version)
                self._sessions[key] = session
                self._evict(model)
            return session

    def _load(self, model: str, version: int) -> Any:
        import onnxruntime as ort

        path = self.repository / model / str(version) / "model.onnx"
        if not path.is_file():
            raise InferenceError(f"No ONNX file at {path}: is the model repository complete?")
        options = ort.SessionOptions()
        # Idle intra-op threads sleep instead of spinning: the encoders share the cores with
        # each other, the photo decoders and Redis, and a spinning pool steals their CPU.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.threads > 0:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        log.info("loading onnx model", extra={"model": model, "version": version})
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _evict(self, model: str) -> None:
        versions = sorted(v for (name, v) in self._sessions if name == model)
        for old in versions[: -self.keep_revisions]:
            del self._sessions[(model, old)]

    def run(self, model: str, version: int, inputs: dict[str, np.ndarray], output: str) -> np.ndarray:
        """Synchronous inference (used by benchmarks and the thread pool)."""
        session = self.session(model, version)
        names = {i.name for i in session.get_inputs()}
        feed = {k: v for k, v in inputs.items() if k in names}
        result = session.run([output], feed)[0]
        return np.asarray(result, dtype=np.float32)

    async def infer(self, model: str, version: int, inputs: dict[str, np.ndarray], output: str) -> np.ndarray:
        return await asyncio.to_thread(self.run, model, version, inputs, output)

    async def ensure_loaded(self, manifest: Manifest, kinds: tuple[str, ...] = ("text", "image")) -> None:
        for model, version in manifest_models(manifest, kinds):
            await asyncio.to_thread(self.session, model, version)

    async def close(self) -> None:
        self._sessions.clear()
