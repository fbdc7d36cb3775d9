"""The ``triton`` backend: tritonclient (async gRPC or HTTP) against a Triton server.

Models are addressed by name and the Triton version the manifest names. With
``--model-control-mode=explicit`` a new repository revision is loaded through the model-control
API (``load_model``); the configs use ``version_policy: all`` so the previous revision stays
loaded and in-flight events pinned to it are still served.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_incrementing,
)

from shared.inference.backend import InferenceError, manifest_models
from shared.model_repo import Manifest

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
        self._load_lock = asyncio.Lock()
        self.load_attempts = 6
        """``load_model`` calls before a model version counts as unloadable."""
        self.load_wait_s = 0.5
        """Wait after the first failed load; each later wait is that much longer (0.5, 1, 1.5 s...)."""

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

    async def infer(self, model: str, version: int, inputs: dict[str, np.ndarray], output: str) -> np.ndarray:
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
            raise InferenceError(f"Triton at {self.url} failed on {model} v{version}: {exc}") from exc
        return np.asarray(result.as_numpy(output), dtype=np.float32)

    async def ensure_loaded(self, manifest: Manifest, kinds: tuple[str, ...] = ("text", "image")) -> None:
        """Load (explicit model control) every model version of ``manifest`` not yet ready."""
        async with self._load_lock:
            for model, version in manifest_models(manifest, kinds):
                if await self._ready(model, version):
                    continue
                log.info("loading model into triton", extra={"model": model, "version": version})
                await self._load(model, version)

    async def _ready(self, model: str, version: int) -> bool:
        try:
            return bool(await self.client.is_model_ready(model, str(version)))
        except Exception:  # server unreachable: not ready
            return False

    async def _load(self, model: str, version: int) -> None:
        """load_model until ``version`` is ready: a new version directory may lag a moment behind
        the manifest (the repository view is synced, files are still being written), so a
        failed load or a version not ready yet is retried, with linearly growing waits."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.load_attempts),
            wait=wait_incrementing(start=self.load_wait_s, increment=self.load_wait_s),
            # tritonclient raises per-protocol exception types; a falsy result means "not ready"
            retry=retry_if_exception_type(Exception) | retry_if_result(lambda ready: not ready),
        )
        try:
            await retrying(self._load_once, model, version)
        except RetryError as exc:
            error = exc.last_attempt.exception()
            raise InferenceError(
                f"Triton could not load {model} version {version}: {error or 'not ready'}"
            ) from error

    async def _load_once(self, model: str, version: int) -> bool:
        await self.client.load_model(model)
        return await self._ready(model, version)

    async def ready(self) -> bool:
        try:
            return bool(await self.client.is_server_ready())
        except Exception:
            return False

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
