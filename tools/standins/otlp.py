"""A stand-in OTLP/HTTP trace receiver (protobuf, ``POST /v1/traces``) on 127.0.0.1, in place of
Jaeger: it decodes what the exporters send (the tracing tests read the spans; ``python -m
tools.standins otlp`` counts them for the tracing-cost benchmark), or holds every request until
released (a receiver that hangs, the worst kind of down)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


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
    keep: bool = True
    """False: count spans without keeping them (a long benchmark)."""
    spans: list[ExportedSpan] = field(default_factory=list)
    count: int = 0
    requests: int = 0
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        if not self.keep:
            with self.lock:
                self.count += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
            return
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
            self.count += len(found)

    def of(self, submission_id: object) -> list[ExportedSpan]:
        with self.lock:
            return [s for s in self.spans if s.attributes.get("catalog.submission_id") == str(submission_id)]

    @contextmanager
    def serve(self, port: int = 0) -> Iterator[str]:
        """The receiver's base URL (``CATALOG_OTLP_ENDPOINT``) while the block runs (``port``
        0: a free one)."""
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

        httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}"
        finally:
            self.released.set()  # a held exporter finishes before the server stops
            httpd.shutdown()
            httpd.server_close()
