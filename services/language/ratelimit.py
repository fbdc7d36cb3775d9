"""The translation rate limit shared by every language worker replica (through Redis).

The provider's quota is per account, not per process: N replicas with a limiter each would use N
times ``translation_rate_limit_per_s``. The same GCRA as :class:`RateLimiter` runs in Redis (one
key, Redis's own clock), so all replicas book their calls on one schedule.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

GCRA_LUA = """
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local delay = tat - now - (burst - 1) * interval
if delay < 0 then delay = 0 end
local ttl_ms = math.ceil((tat + interval - now) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', tat + interval), 'PX', ttl_ms)
return string.format('%.6f', delay)
"""


class SharedRateLimiter:
    """At most ``rate_per_s`` calls per second across every process using ``key``."""

    def __init__(self, redis: Any, key: str, rate_per_s: float, fallback: Any) -> None:
        self.redis, self.key = redis, key
        self.interval = 1.0 / rate_per_s
        self.burst = max(1.0, rate_per_s)
        self._script = redis.register_script(GCRA_LUA)
        self._fallback = fallback

    async def reserve(self) -> float:
        """Book the next call on the shared schedule; how long to wait before making it."""
        reply = await self._script(keys=[self.key], args=[self.interval, self.burst])
        return float(reply.decode() if isinstance(reply, bytes) else reply)

    async def acquire(self) -> None:
        try:
            delay = await self.reserve()
        except Exception as exc:  # Redis unreachable: this process's own limit, rather than none
            log.warning("shared rate limit unavailable; using the local one", extra={"error": str(exc)})
            await self._fallback.acquire()
            return
        if delay > 0:
            await asyncio.sleep(delay)
