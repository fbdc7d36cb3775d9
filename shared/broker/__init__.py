"""The broker helper: the one module that knows Redis Streams delivery semantics.

See docs/architecture.md, "Delivery rules".

Workers declare typed handlers; this module gives them:

- one consumer group per worker kind and one unique consumer per process;
- groups created at the start of the stream (``0``), so nothing published before the first
  worker started is missed;
- the default ack policy (REJECT_ON_ERROR): a failed batch stays in the pending list;
- small ``max_records`` (no replica grabs the whole backlog) and batch reads for encoders;
- a reclaimer per stream (XAUTOCLAIM after ``reclaim_idle_ms``) that re-runs pending messages one
  by one and dead-letters them after ``max_deliveries`` with the last error;
- immediate dead letters for payloads that are not valid JSON or fail the schema;
- pipelined publishing of a handler's output, before the ack (so effects are at least once and
  every side effect downstream is idempotent by ``submission_id``);
- removal of stale consumers (idle, nothing pending);
- the priority lane (``shared/broker/lanes.py``): an event is published on its lane's stream (bulk
  events on the ``.bulk`` twin) and each consumer reads both, bulk only while no live batch runs
  (live through FastStream's subscribers, bulk through the helper's own loop: ``bulk.py``);
- a consumer group lost with Redis's data (NOGROUP): the live subscriber ends the app (FastStream's
  terminal error), whose restart recreates the group; the bulk loop recreates it in place.

A worker kind is declared as data (:class:`WorkerSpec`): its name, its module-level handlers
(plain ``async (events, deps) -> outcomes`` functions, testable without Redis) and how its
dependencies are built once at start. The composition root (``services.cli.registry``) lists
the specs; the supervisor, the AsyncAPI document and the deployment manifests derive from it.
"""

from shared.broker.app import GRACEFUL_TIMEOUT_S, WorkerApp
from shared.broker.entries import (
    DATA_KEY,
    consumer_name,
    ensure_group,
    parse_event,
    payload_of,
    remove_stale_consumers,
    tolerant_parser,
)
from shared.broker.publishing import EventPublisher, EventReader, publish_pipelined, read_events
from shared.broker.spec import BoundHandler, Consumer, Emit, Handler, Outcome, Reject, WorkerSpec

__all__ = [
    "DATA_KEY",
    "GRACEFUL_TIMEOUT_S",
    "BoundHandler",
    "Consumer",
    "Emit",
    "EventPublisher",
    "EventReader",
    "Handler",
    "Outcome",
    "Reject",
    "WorkerApp",
    "WorkerSpec",
    "consumer_name",
    "ensure_group",
    "parse_event",
    "payload_of",
    "publish_pipelined",
    "read_events",
    "remove_stale_consumers",
    "tolerant_parser",
]
