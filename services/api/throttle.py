"""Bounds on reads that cost compute: a shared rate of cache misses and a short-lived cache.

An explanation (occlusion through the models, ~0.25-2 s) or a drift report over 48 windows
(~2 s of SQL) is cheap to ask for and dear to answer: the answers are cached, and the
computations behind cache misses are limited to ``CATALOG_API_EXPENSIVE_PER_MINUTE`` for all
clients together (429 with ``Retry-After`` beyond), so no reader can keep the API busy.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException


class Throttle:
    """A token bucket: ``per_minute`` computations a minute, up to ``per_minute`` at once."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.capacity, self.clock = per_minute / 60.0, float(per_minute), clock
        self.tokens, self.stamp = self.capacity, clock()
        self._lock = threading.Lock()  # routes run on the thread pool too

    def wait_s(self) -> float:
        """0 and one computation spent when one is allowed now, else seconds until one is."""
        with self._lock:
            return self._take()

    def _take(self) -> float:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def admit(self, what: str) -> None:
        """Spend one computation of ``what``, or raise the 429 that says when to retry."""
        wait = self.wait_s()
        if wait > 0:
            raise HTTPException(
                429,
                f"Too many {what} computed in the last minute (CATALOG_API_EXPENSIVE_PER_MINUTE); "
                f"retry in {math.ceil(wait)} s.",
                headers={"Retry-After": str(math.ceil(wait))},
            )


class TtlCache:
    """Answers kept ``ttl_s`` seconds by key (a handful of keys: the queries' parameters)."""

    def __init__(
        self, ttl_s: float, max_items: int = 256, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s, self.max_items, self.clock = ttl_s, max_items, clock
        self._items: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any | None:
        item = self._items.get(key)
        if item is None or item[0] <= self.clock():
            self._items.pop(key, None)
            return None
        return item[1]

    def put(self, key: Any, value: Any) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._items) >= self.max_items:
            now = self.clock()
            self._items = {k: v for k, v in self._items.items() if v[0] > now}
            if len(self._items) >= self.max_items:
                self._items.pop(next(iter(self._items)))
        self._items[key] = (self.clock() + self.ttl_s, value)
