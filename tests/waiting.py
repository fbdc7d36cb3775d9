"""Polling helpers for tests that wait on other processes (bounded, never timed assertions)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    predicate: Callable[[], Any | Awaitable[Any]], timeout_s: float = 30.0, interval_s: float = 0.05
) -> None:
    """Wait until ``predicate()`` (plain or awaitable) is truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in {timeout_s} s")
        await asyncio.sleep(interval_s)


def eventually_sync(predicate: Callable[[], Any], timeout_s: float = 30.0, interval_s: float = 0.2) -> None:
    """The blocking twin of :func:`eventually`, for tests without an event loop."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in {timeout_s} s")
        time.sleep(interval_s)
