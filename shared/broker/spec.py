"""What a worker kind declares: its handlers' outcomes and the kind itself, as data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from redis.asyncio import Redis

from shared.config import Settings
from shared.contract import Stream

E = TypeVar("E", bound=BaseModel)
D = TypeVar("D")


@dataclass(frozen=True)
class Emit:
    """An event a handler wants published (before its input is acked)."""

    stream: Stream
    event: BaseModel


@dataclass(frozen=True)
class Reject:
    """An input event the handler gives up on: dead-lettered with ``error``, then acked."""

    event: BaseModel
    error: str


Outcome = Emit | Reject
Handler = Callable[[list[E]], Awaitable[Sequence[Outcome]]]
BoundHandler = Callable[[list[E], D], Awaitable[Sequence[Outcome]]]


@dataclass(frozen=True)
class Consumer(Generic[E, D]):
    """One stream a worker kind reads, the event type on it and its module-level handler."""

    stream: Stream
    event_type: type[E]
    handler: BoundHandler[E, D]
    batch: bool = True


@dataclass(frozen=True)
class WorkerSpec(Generic[D]):
    """A worker kind, as data: the single source of the list of workers and their streams.

    ``open`` builds the handlers' dependencies once, after Redis is connected; ``close``
    releases them. ``image`` names the container image the kind runs in (``slim``: no torch;
    ``inference``: the inference client and preprocessing).

    ``ready`` raises while the opened dependencies cannot serve (an encoder's model not loaded):
    the worker's ``/readyz`` says so. ``background`` is a loop run beside the consumers for the
    worker's life (a kind that consumes no stream, e.g. the reclassify worker polling its table).
    """

    name: str
    consumes: tuple[Consumer[Any, D], ...]
    publishes: tuple[Stream, ...]
    open: Callable[[Settings, Redis], Awaitable[D]]
    close: Callable[[D], Awaitable[None]] | None = None
    image: str = "slim"
    description: str = ""
    ready: Callable[[D], Awaitable[None]] | None = None
    background: Callable[[D], Awaitable[None]] | None = None
