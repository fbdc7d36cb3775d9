"""TritonBackend's model loading retries (tenacity) against a fake tritonclient."""

from __future__ import annotations

import pytest

from shared.inference.backend import InferenceError
from shared.inference.triton import TritonBackend


class FlakyClient:
    """``load_model`` fails ``failures`` times, then the version is ready after ``lag`` checks."""

    def __init__(self, failures: int, lag: int = 0) -> None:
        self.failures, self.lag = failures, lag
        self.loads = 0

    async def load_model(self, model: str) -> None:
        self.loads += 1
        if self.loads <= self.failures:
            raise RuntimeError("version directory not there yet")

    async def is_model_ready(self, model: str, version: str) -> bool:
        if self.lag:
            self.lag -= 1
            return False
        return True


def backend_with(client: FlakyClient, attempts: int) -> TritonBackend:
    backend = TritonBackend("127.0.0.1:1", timeout_s=1)
    backend._client = client  # our own class: the fake stands in for tritonclient
    backend.load_attempts, backend.load_wait_s = attempts, 0.01
    return backend


async def test_load_retries_failures_and_not_ready_then_succeeds() -> None:
    client = FlakyClient(failures=2, lag=1)
    await backend_with(client, attempts=4)._load("text_a", 3)
    assert client.loads == 4  # two errors, one "not ready yet", then ready


async def test_load_gives_up_with_the_last_error() -> None:
    client = FlakyClient(failures=10)
    with pytest.raises(InferenceError, match="could not load text_a version 3: version directory"):
        await backend_with(client, attempts=3)._load("text_a", 3)
    assert client.loads == 3
