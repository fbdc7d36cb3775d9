"""Telling a dependency that is down from a message that is bad (docs/architecture.md §3).

An offer is never dead-lettered, nor a request refused as invalid, because SQL, Redis, Triton or
the translator is unreachable: that is an outage, answered by waiting (workers hold the batch
and back off, the API answers 503 with ``Retry-After``). :func:`dependency_of` is the one
place that decides which errors are outages; a worker wraps an outage it detects itself in
:class:`DependencyUnavailable` (or a subclass) naming the dependency.
"""

from __future__ import annotations


class DependencyUnavailable(Exception):
    """A dependency the handler needs is unreachable: retry later, the message is not at fault."""

    dependency = "dependency"

    def __init__(self, message: str, dependency: str | None = None) -> None:
        super().__init__(message)
        if dependency is not None:
            self.dependency = dependency


def dependency_of(exc: BaseException) -> str | None:
    """The dependency whose outage ``exc`` is (``sql``, ``redis``, ...), or None: an ordinary
    failure, which counts a delivery. Causes are followed (``raise ... from``) so a wrapped
    connection error still counts as an outage."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _direct(current)
        if found is not None:
            return found
        current = current.__cause__
    return None


def _direct(exc: BaseException) -> str | None:
    if isinstance(exc, DependencyUnavailable):
        return exc.dependency
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
        return "sql"
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return "sql"
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        # redis-py's ConnectionError is not the builtin one; BusyLoadingError (Redis loading its
        # data after a restart) is one of its subclasses.
        return "redis"
    return None
