"""The ``triton`` backend: tritonclient (async gRPC or HTTP) against a Triton server.

Models are addressed by name and the Triton version the manifest names. The server runs with
``--model-control-mode=explicit``; only the rollout controller (``catalog rollout``) loads and
unloads versions (the newest revisions, ``version_policy: specific``), so in-flight events
pinned to the previous revision are still served. This backend only checks readiness.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from shared.contract import Lane
from shared.inference.backend import BackendUnavailable, InferenceError, manifest_models
from shared.ml.model_repo import Manifest

log = logging.getLogger(__name__)

_DTYPES = {
    np.dtype(np.float32): "FP32",
    np.dtype(np.float64): "FP64",
    np.dtype(np.int64): "INT64",
    np.dtype(np.int32): "INT32",
    np.dtype(np.uint8): "UINT8",
}


class TritonBackend:
    """Async tritonclient; one request per (batch, model)."""

    name = "triton"

    def __init__(self, url: str, protocol: str = "grpc", timeout_s: float = 30.0) -> None:
        self.url = url
        self.protocol = protocol
        self.timeout_s = timeout_s
        self._client: Any = None

    @property
    def module(self) -> Any:
        if self.protocol == "http":
            import tritonclient.http.aio as module
        else:
            import tritonclient.grpc.aio as module
        return module

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.module.InferenceServerClient(url=self.url)
        return self._client

    async def infer(
        self, model: str, version: int, inputs: dict[str, np.ndarray], output: str, lane: Lane = "live"
    ) -> np.ndarray:
        """One request. ``lane`` is not sent: the server orders requests FIFO per model, and the
        encoders send a bulk batch in chunks (``shared.broker.lanes.chunks``), so a live
        request queues behind at most one bulk chunk of its own worker."""
        module = self.module
        requests = []
        for name, array in inputs.items():
            array = np.ascontiguousarray(array)
            tensor = module.InferInput(name, list(array.shape), _DTYPES[array.dtype])
            tensor.set_data_from_numpy(array)
            requests.append(tensor)
        outputs = [module.InferRequestedOutput(output)]
        kwargs: dict[str, Any] = {}
        if self.protocol == "grpc":
            kwargs["client_timeout"] = self.timeout_s
        else:
            kwargs["timeout"] = int(self.timeout_s * 1_000_000)
        try:
            result = await self.client.infer(
                model, requests, model_version=str(version), outputs=outputs, **kwargs
            )
        except Exception as exc:  # tritonclient raises its own exception types per protocol
            message = f"Triton at {self.url} failed on {model} v{version}: {exc}"
            if not await self.is_ready(model, version):  # down or restarting, not a bad input
                raise BackendUnavailable(message) from exc
            raise InferenceError(message) from exc
        return np.asarray(result.as_numpy(output), dtype=np.float32)

    async def ensure_loaded(self, manifest: Manifest, kinds: tuple[str, ...] = ("text", "image")) -> None:
        """Check that every model version of ``manifest`` is ready on the server.

        Workers never load or unload models: that is the rollout controller's job
        (``catalog rollout``, services/rollout/controller.py), one place for the whole cluster. A
        version not ready yet raises :class:`InferenceError` (the store keeps serving the
        previous revision meanwhile)."""
        missing = [
            f"{model} v{version}"
            for model, version in manifest_models(manifest, kinds)
            if not await self.is_ready(model, version)
        ]
        if missing:  # not loaded yet, or Triton down or restarting: an outage, not a bad input
            raise BackendUnavailable(
                f"Triton at {self.url} does not serve {', '.join(missing)} (revision {manifest.revision}) "
                "yet: `catalog rollout` loads the newest revisions"
            )

    async def is_ready(self, model: str, version: int) -> bool:
        try:
            return bool(await self.client.is_model_ready(model, str(version)))
        except Exception:  # server unreachable: not ready
            return False

    async def ready(self) -> bool:
        try:
            return bool(await self.client.is_server_ready())
        except Exception:
            return False

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
