"""The W3C trace fields of the event envelope (untrusted input: malformed values are dropped,
never an error) and the spans shared/tracing.py makes, read back from an in-memory exporter."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from shared.broker import Emit, Reject
from shared.broker.entries import parse_event
from shared.config import Settings
from shared.contract import (
    TRACEPARENT_PATTERN,
    DeadLetter,
    ListingPrepared,
    ListingSubmitted,
    Stream,
    valid_traceparent,
    valid_tracestate,
)
from shared.tracing import Tracing, build_provider, context_of, tracing_for

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
GOOD = f"00-{TRACE}-{SPAN}-01"
Exported = Callable[[], tuple[ReadableSpan, ...]]


@pytest.mark.parametrize(
    "value",
    [GOOD, f"00-{TRACE}-{SPAN}-00", f"00-{TRACE}-{SPAN}-ff"],
)
def test_version_00_traceparents_are_kept_as_they_are(value: str) -> None:
    assert valid_traceparent(value) == value
    assert re.fullmatch(TRACEPARENT_PATTERN, value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        GOOD.upper(),  # uppercase hex is not the grammar
        f"00-{'0' * 32}-{SPAN}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"ff-{TRACE}-{SPAN}-01",  # version ff is forbidden
        f"00-{TRACE}-{SPAN}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE[:-1]}-{SPAN}-01",
        f"00-{TRACE}-{SPAN}-1",
        f"00_{TRACE}_{SPAN}_01",
        f" {GOOD}",
        f"00-{TRACE}-{SPAN}-0g",
        f"01-{TRACE}-{SPAN}-01x",  # a later version: a fifth field needs its dash
        "00-" + "a" * 600,
        42,
        None,
    ],
)
def test_malformed_traceparents_are_refused(value: object) -> None:
    assert valid_traceparent(value) is None


def test_a_later_version_is_read_as_version_00_with_only_the_sampled_flag() -> None:
    assert valid_traceparent(f"01-{TRACE}-{SPAN}-03-whatever") == f"00-{TRACE}-{SPAN}-01"
    assert valid_traceparent(f"cc-{TRACE}-{SPAN}-02") == f"00-{TRACE}-{SPAN}-00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("vendor=abc", "vendor=abc"),
        ("a=1, b=2 ,c=3", "a=1,b=2,c=3"),
        ("tenant@system=x", "tenant@system=x"),
        ("congo=t61rcWkgMzE", "congo=t61rcWkgMzE"),
        ("a=1,a=2", None),  # duplicate key
        ("A=1", None),  # keys are lowercase
        ("a", None),
        ("a=", None),  # a value has at least one character
        ("a=b=c", None),  # '=' is not allowed in a value
        ("a=b\x00", None),
        (",".join(f"k{i}=v" for i in range(33)), None),  # more than 32 members
        ("a=" + "x" * 600, None),
        ("", None),
    ],
)
def test_tracestate_grammar(value: str, expected: str | None) -> None:
    assert valid_tracestate(value) == expected


def payload(**fields: object) -> bytes:
    event = json.loads(ListingSubmitted.new("L1", title="x").model_dump_json())
    return json.dumps({**event, **fields}).encode()


def test_an_event_with_a_malformed_traceparent_is_read_without_it() -> None:
    """Untrusted input: the offer is processed (in a new trace), never dead-lettered for it."""
    event = parse_event(ListingSubmitted, payload(traceparent="00-nope", tracestate="a=b"))
    assert event.traceparent is None and event.tracestate is None
    event = parse_event(ListingSubmitted, payload(traceparent=12, tracestate={"a": 1}))
    assert event.traceparent is None and event.tracestate is None


def test_a_valid_trace_context_is_read_and_forwarded_by_the_envelope() -> None:
    event = parse_event(ListingSubmitted, payload(traceparent=GOOD, tracestate="vendor=abc,bad"))
    assert event.traceparent == GOOD and event.tracestate is None  # a malformed state alone is dropped
    event = parse_event(ListingSubmitted, payload(traceparent=GOOD, tracestate="vendor=abc"))
    assert event.envelope()["traceparent"] == GOOD and event.envelope()["tracestate"] == "vendor=abc"


def test_an_untraced_event_is_what_it_was_before_the_trace_fields() -> None:
    """Tracing off: no trace keys in the payload (a worker of the previous version, which forbids
    unknown fields, still reads it)."""
    data = json.loads(ListingSubmitted.new("L1", title="x").model_dump_json())
    assert "traceparent" not in data and "tracestate" not in data


def test_no_endpoint_means_no_tracing_at_all() -> None:
    assert tracing_for(Settings(otlp_endpoint=None), "language") is None
    assert tracing_for(Settings(otlp_endpoint="  "), "language") is None


def make_tracing(ratio: float = 1.0) -> tuple[Tracing, Exported]:
    exporter = InMemorySpanExporter()
    tracing = Tracing(build_provider("test", ratio, exporter))

    def finished() -> tuple[ReadableSpan, ...]:
        tracing.flush()  # the batch processor hands spans over on its own schedule
        return exporter.get_finished_spans()

    return tracing, finished


def prepared_from(event: ListingSubmitted) -> ListingPrepared:
    return ListingPrepared(**event.envelope(), language={"code": "fr", "confidence": 1.0},
                           translation={"status": "not_needed"})  # fmt: skip


def test_a_stage_span_is_the_child_of_its_event_and_its_outputs_carry_it() -> None:
    tracing, exporter = make_tracing()
    event = parse_event(ListingSubmitted, payload(traceparent=GOOD, tracestate="vendor=abc"))
    spans = tracing.stage("language", "listings.submitted", [event])
    output = prepared_from(event)
    spans.forward([Emit(Stream.PREPARED, output)])
    spans.end()
    [span] = exporter()
    assert span.name == "language listings.submitted"
    assert span.context is not None and span.parent is not None
    assert (span.context.trace_id, span.parent.span_id) == (int(TRACE, 16), int(SPAN, 16))
    assert output.traceparent == f"00-{TRACE}-{span.context.span_id:016x}-01"
    assert output.tracestate == "vendor=abc"
    assert span.attributes is not None and span.attributes["catalog.submission_id"] == str(
        event.submission_id
    )


def test_an_output_that_carried_another_parent_links_to_it() -> None:
    """Fusion: the prediction is built from the half that arrived first; the span of the half that
    completed the join parents it and links to the other."""
    tracing, exporter = make_tracing()
    event = parse_event(ListingSubmitted, payload(traceparent=GOOD))
    other_span = "1111111111111111"
    output = prepared_from(event).model_copy(update={"traceparent": f"00-{TRACE}-{other_span}-01"})
    spans = tracing.stage("fusion", "features.image", [event])
    spans.forward([Emit(Stream.PREPARED, output)])
    spans.end()
    [span] = exporter()
    assert [link.context.span_id for link in span.links] == [int(other_span, 16)]


def test_a_rejected_event_or_a_failed_batch_ends_its_span_in_error() -> None:
    tracing, exporter = make_tracing()
    rejected, failed = (parse_event(ListingSubmitted, payload(traceparent=GOOD)) for _ in range(2))
    spans = tracing.stage("language", "listings.submitted", [rejected])
    spans.forward([Reject(rejected, "no text")])
    spans.end()
    spans = tracing.stage("language", "listings.submitted", [failed])
    spans.end(RuntimeError("model away"))
    first, second = exporter()
    assert first.status.status_code == second.status.status_code == StatusCode.ERROR
    assert second.status.description == "RuntimeError: model away"


def test_sampling_is_decided_once_where_the_offer_enters() -> None:
    """Ratio 0: a new trace is not recorded, yet its traceparent travels (sampled flag off) and a sampled
    parent still makes a recorded child (parent-based)."""
    tracing, exporter = make_tracing(ratio=0.0)
    fresh = ListingSubmitted.new("L1", title="x")
    with tracing.publishing("listings.submitted", [fresh]):
        pass
    assert fresh.traceparent is not None
    assert int(fresh.traceparent[-2:], 16) & 1 == 0  # not sampled (bit 1 is level 2's "random")
    assert exporter() == ()
    sampled = parse_event(ListingSubmitted, payload(traceparent=GOOD))
    spans = tracing.stage("language", "listings.submitted", [sampled])
    spans.end()
    assert len(exporter()) == 1


def test_publishing_continues_a_caller_trace_and_leaves_traced_events_alone() -> None:
    tracing, exporter = make_tracing()
    fresh, traced = (
        ListingSubmitted.new("L1", title="x"),
        parse_event(ListingSubmitted, payload(traceparent=GOOD)),
    )
    with tracing.publishing("listings.submitted", [fresh, traced], context_of(GOOD, None)):
        pass
    [span] = exporter()
    assert span.parent is not None and span.parent.span_id == int(SPAN, 16)
    assert fresh.traceparent is not None and fresh.traceparent.startswith(f"00-{TRACE}-")
    assert traced.traceparent == GOOD  # a re-publication keeps its trace
    assert context_of("00-bad", None) is None


def test_an_unsampled_trace_costs_no_span_downstream() -> None:
    """Parent-based: a stage reading an event whose sampled flag is off makes no span at all;
    its outputs carry the same traceparent on."""
    tracing, exporter = make_tracing()
    unsampled = f"00-{TRACE}-{SPAN}-02"  # flags: random bit only, not sampled
    event = parse_event(ListingSubmitted, payload(traceparent=unsampled))
    spans = tracing.stage("language", "listings.submitted", [event])
    output = prepared_from(event)
    spans.forward([Emit(Stream.PREPARED, output)])
    spans.end()
    assert exporter() == ()
    assert output.traceparent == unsampled


def test_events_that_are_not_an_offers_make_no_span() -> None:
    """Dead letters (the reconciler reads them) carry no trace: no root span per letter."""
    tracing, exporter = make_tracing()
    letter = DeadLetter(stream="listings.submitted", worker="language", reason="invalid_payload",
                        error="bad", attempts=1, payload="{}")  # fmt: skip
    spans = tracing.stage("reconciler", "listings.dead", [letter])
    spans.end()
    assert exporter() == ()
