"""A real OTLP/HTTP trace receiver (protobuf, ``POST /v1/traces``) on 127.0.0.1 for the tracing
tests: it decodes what the exporters send, or holds every request until released (a receiver
that hangs, the worst kind of down)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.local_http import serving


@dataclass(frozen=True)
class ExportedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, str]
    links: tuple[tuple[str, str], ...]
    """(trace id, span id) of each linked span."""
    error: bool


@dataclass
class OtlpReceiver:
    """Spans received, in arrival order; with ``hold`` set, requests wait until it is released."""

    hold: bool = False
    spans: list[ExportedSpan] = field(default_factory=list)
    requests: int = 0
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        found = []
        for resource in request.resource_spans:
            attrs = {a.key: a.value.string_value for a in resource.resource.attributes}
            for scope in resource.scope_spans:
                for span in scope.spans:
                    found.append(
                        ExportedSpan(
                            service=attrs.get("service.name", ""),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: a.value.string_value for a in span.attributes},
                            links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                            error=span.status.code == 2,  # STATUS_CODE_ERROR
                        )
                    )
        with self.lock:
            self.spans.extend(found)

    def of(self, submission_id: object) -> list[ExportedSpan]:
        with self.lock:
            return [s for s in self.spans if s.attributes.get("catalog.submission_id") == str(submission_id)]

    @contextmanager
    def serve(self) -> Iterator[str]:
        """The receiver's base URL (``CATALOG_OTLP_ENDPOINT``) while the block runs."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests += 1
                if receiver.hold:
                    receiver.released.wait(300)
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                receiver.record(body)
                payload = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        try:
            with serving(Handler) as url:
                yield url
                self.released.set()  # a held exporter finishes before the server stops
        finally:
            self.released.set()
