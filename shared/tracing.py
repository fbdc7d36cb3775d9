"""One trace per offer across the workers: OpenTelemetry spans linked by the events' traceparent.

Off (no ``otlp_endpoint``): :func:`tracing_for` answers None and the broker skips every hook, so
an untraced pipeline pays one ``is None`` test per batch and its events carry no trace fields.

On: each process keeps one tracer provider per service (worker kind, ``api``, ``publisher``)
with a parent-based ratio sampler (``trace_sample_ratio`` decides once, where an offer enters;
later stages follow the flag in its traceparent) and a batch processor that exports over
OTLP/HTTP from its own thread. Export never blocks a worker: spans wait in a bounded queue
(dropped, not offers, when it is full), and an unreachable receiver costs one failed request per
batch in that thread (bounded by :data:`EXPORT_TIMEOUT_S`).

The spans (docs/architecture.md §3, "Traces"):

- ``publish <stream>`` (producer): an event entering the pipeline without a traceparent (API,
  ``catalog ingest``, jobs); the root of the offer's trace, or the child of the caller's
  ``traceparent`` header at the API;
- ``<worker> <stream>`` (consumer), one per event of a batch: child of the event's traceparent;
  the events the handler emits for that submission carry this span's context onward. An output
  that carried another parent (fusion: the half that arrived first) links to it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState
from pydantic import BaseModel

from shared.config import Settings
from shared.contract import valid_traceparent, valid_tracestate

log = logging.getLogger(__name__)

EXPORT_TIMEOUT_S = 5.0
"""One export request's limit: an unreachable receiver holds the export thread this long at most."""
QUEUE_SPANS = 8192
"""Spans waiting for export; beyond, new spans are dropped (the processor's counter says how many)."""
FLUSH_TIMEOUT_MS = 2000
"""How long a stopping worker waits for its last spans to leave."""

_providers: dict[tuple[str, float, str], Tracing] = {}
_UNSAMPLED = frozenset("02468ace")
"""Last hex digit of a traceparent whose sampled flag (bit 0 of trace-flags) is off."""


class Tracing:
    """The tracer of one service in this process (one per worker kind, the API, publishers)."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("catalog")

    def stage(self, worker: str, stream: str, events: Sequence[BaseModel]) -> StageSpans:
        """One consumer span per event of a batch, each the child of its event's traceparent."""
        return StageSpans(self.tracer, worker, stream, events)

    @contextmanager
    def publishing(
        self, stream: str, events: Sequence[BaseModel], parent: Context | None = None
    ) -> Iterator[None]:
        """A producer span for each event entering the pipeline without a traceparent (the
        offer's trace starts here, under ``parent`` when the caller sent one); each such event
        carries its span's context."""
        spans: list[Span] = []
        for event in events:
            if getattr(event, "traceparent", "") is not None:
                continue  # already traced (a worker's output, a re-publication), or not an envelope
            span = self.tracer.start_span(
                f"publish {stream}", context=parent, kind=SpanKind.PRODUCER, attributes=_attributes(event)
            )
            _carry(event, span)
            spans.append(span)
        try:
            yield
        except BaseException as exc:
            for span in spans:
                _failed(span, exc)
            raise
        finally:
            for span in spans:
                span.end()

    def flush(self) -> None:
        """Hand the finished spans to the exporter, waiting :data:`FLUSH_TIMEOUT_MS` at most."""
        self.provider.force_flush(FLUSH_TIMEOUT_MS)


class StageSpans:
    """The spans of one batch at one stage (see :meth:`Tracing.stage`)."""

    def __init__(self, tracer: trace.Tracer, worker: str, stream: str, events: Sequence[BaseModel]) -> None:
        self.spans: dict[Any, tuple[Span, str | None]] = {}
        self.started: list[Span] = []
        for event in events:
            if not hasattr(event, "traceparent"):
                continue  # not an offer's event (dead letters): no trace to continue
            carried = event.traceparent
            if carried is not None and carried[-1] in _UNSAMPLED:
                # Parent-based sampling: nothing of this trace is recorded, so the event's
                # outputs simply carry its traceparent on (no span, no new id to make).
                continue
            span = tracer.start_span(
                f"{worker} {stream}",
                context=_remote(carried, getattr(event, "tracestate", None)) if carried else None,
                kind=SpanKind.CONSUMER,
                attributes={**_attributes(event), "messaging.destination.name": stream},
            )
            self.spans[getattr(event, "submission_id", id(event))] = (span, carried)
            self.started.append(span)  # a duplicate in the batch has its own span too

    def forward(self, outcomes: Sequence[Any]) -> None:
        """Each event emitted for a traced submission carries that submission's span onward; a
        rejected event's span ends in error (the broker's ``Emit`` and ``Reject`` outcomes)."""
        for outcome in outcomes:
            event = outcome.event
            found = self.spans.get(getattr(event, "submission_id", None))
            if found is None or not hasattr(event, "traceparent"):
                continue
            span, carried = found
            error = getattr(outcome, "error", None)
            if error is not None:  # a Reject: its input is dead-lettered
                span.set_status(Status(StatusCode.ERROR, str(error)[:200]))
                continue
            other = event.traceparent
            if other is not None and other != carried and (linked := context_of(other, None)):
                span.add_link(trace.get_current_span(linked).get_span_context())
            _carry(event, span)

    def end(self, error: BaseException | None = None) -> None:
        for span in self.started:
            if error is not None:
                _failed(span, error)
            span.end()


def tracing_for(settings: Settings, service: str) -> Tracing | None:
    """This process's tracing for ``service`` (None when no endpoint is configured)."""
    if not settings.otlp_endpoint:
        return None
    key = (settings.otlp_endpoint, settings.trace_sample_ratio, service)
    if key not in _providers:
        endpoint = f"{settings.otlp_endpoint.rstrip('/')}/v1/traces"
        exporter = OTLPSpanExporter(endpoint=endpoint, timeout=EXPORT_TIMEOUT_S)
        _providers[key] = Tracing(build_provider(service, settings.trace_sample_ratio, exporter))
        log.info(
            "tracing on",
            extra={"service": service, "endpoint": endpoint, "sample_ratio": settings.trace_sample_ratio},
        )
    return _providers[key]


def build_provider(service: str, ratio: float, exporter: SpanExporter) -> TracerProvider:
    """A provider for ``service``: parent-based ratio sampling, batched export through ``exporter``."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"catalog-{service}", "service.namespace": "catalog"}),
        sampler=ParentBased(TraceIdRatioBased(ratio)),
    )
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=QUEUE_SPANS))
    return provider


def context_of(traceparent: str | None, tracestate: str | None) -> Context | None:
    """The remote parent a traceparent names (None: a new trace), after the W3C grammar check:
    headers and events from outside are untrusted, a malformed one is ignored."""
    parent = valid_traceparent(traceparent)
    if parent is None:
        return None
    return _remote(parent, valid_tracestate(tracestate) if tracestate is not None else None)


def _remote(parent: str, state: str | None) -> Context:
    """The context of a traceparent and tracestate already checked (an event's: the contract
    validated them on reading)."""
    _, trace_id, span_id, flags = parent.split("-")
    remote = SpanContext(
        trace_id=int(trace_id, 16),
        span_id=int(span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(int(flags, 16)),
        trace_state=TraceState.from_header([state]) if state else None,
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(remote))


def traceparent_of(context: SpanContext) -> str:
    """The W3C header of ``context``."""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def _carry(event: BaseModel, span: Span) -> None:
    context = span.get_span_context()
    event.traceparent = traceparent_of(context)  # type: ignore[attr-defined]
    event.tracestate = context.trace_state.to_header() or None  # type: ignore[attr-defined]


def _attributes(event: BaseModel) -> dict[str, Any]:
    return {
        "messaging.system": "redis",
        "catalog.submission_id": str(getattr(event, "submission_id", "")),
        "catalog.listing_id": str(getattr(event, "listing_id", "")),
        "catalog.lane": str(getattr(event, "lane", "")),
    }


def _failed(span: Span, error: BaseException) -> None:
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:200]))
