"""What tracing adds to one offer's CPU, isolated from the queue (``catalog bench tracing``).

Per offer, the tracing work of the whole pipeline done in one process, in batches as the workers
see them: the publish span where the offer enters, then for each of the six stage hops (language,
image encoder, text encoder, fusion x2, writer) decoding the event, one consumer span, carrying
its context onto the output (``StageSpans.forward``), ending the span and encoding the output;
spans exported over OTLP/HTTP to a receiver in another process (it answers 200 to every
request without decoding it; its CPU is not counted).
The same loop without tracing (no spans, no trace fields) is the baseline: the difference is the
CPU tracing costs per offer, every thread of this process counted (``time.process_time``: the
export thread too).
"""

from __future__ import annotations

import multiprocessing
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared.config import Settings
from shared.contract import ListingSubmitted, Stream
from shared.tracing import Tracing, tracing_for

HOPS = ("language", "image-encoder", "text-encoder", "fusion", "fusion", "writer")


class _Emit:
    """The broker's Emit, as far as ``StageSpans.forward`` reads it."""

    def __init__(self, event: ListingSubmitted) -> None:
        self.stream, self.event = Stream.SUBMITTED, event


def _run(tracing: Tracing | None, offers: int, batch: int) -> float:
    """CPU seconds of ``offers`` through the tracing work of every hop."""
    started = time.process_time()
    for start in range(0, offers, batch):
        events = [ListingSubmitted.new(f"b{start + i}", title="Console de jeu") for i in range(batch)]
        if tracing is not None:
            with tracing.publishing(str(Stream.SUBMITTED), events):
                pass
        payloads = [e.model_dump_json() for e in events]
        for hop in HOPS:
            decoded = [ListingSubmitted.model_validate_json(p) for p in payloads]
            outputs = [ListingSubmitted(**e.envelope(), title=e.title) for e in decoded]
            if tracing is not None:
                spans = tracing.stage(hop, "listings.submitted", decoded)
                spans.forward([_Emit(o) for o in outputs])
                spans.end()
            payloads = [o.model_dump_json() for o in outputs]
    if tracing is not None:
        tracing.flush()
    return time.process_time() - started


class _Accept(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver's answer to every export: 200, body read and ignored."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _receive(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), _Accept).serve_forever()


def run_tracing_cost(settings: Settings, offers: int, batch: int, port: int) -> dict[str, Any]:
    """µs of CPU per offer: off, on at ratio 1.0 and at 0.01 (same loop, same process)."""
    receiver = multiprocessing.get_context("spawn").Process(target=_receive, args=(port,), daemon=True)
    receiver.start()
    try:
        time.sleep(2.0)  # the receiver binds its port
        endpoint = f"http://127.0.0.1:{port}"
        modes: dict[str, Tracing | None] = {
            "off": None,
            "on_1.0": tracing_for(settings.model_copy(update={"otlp_endpoint": endpoint}), "bench-1.0"),
            "on_0.01": tracing_for(
                settings.model_copy(update={"otlp_endpoint": endpoint, "trace_sample_ratio": 0.01}),
                "bench-0.01",
            ),
        }
        _run(modes["on_1.0"], batch * 4, batch)  # warm-up: imports, connection, caches
        _run(None, batch * 4, batch)
        cpu = {name: _run(tracing, offers, batch) for name, tracing in modes.items()}
    finally:
        receiver.terminate()
        receiver.join(10)
    per_offer = {name: round(seconds / offers * 1e6, 1) for name, seconds in cpu.items()}
    return {
        "offers": offers,
        "batch": batch,
        "hops": list(HOPS),
        "cpu_us_per_offer": per_offer,
        "tracing_us_per_offer": {
            "on_1.0": round(per_offer["on_1.0"] - per_offer["off"], 1),
            "on_0.01": round(per_offer["on_0.01"] - per_offer["off"], 1),
        },
    }
