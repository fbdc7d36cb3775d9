"""Our stream envelope is FastStream's, byte for byte (issue 27: we write and read it with
``struct`` instead of FastStream's per-event publisher machinery)."""

from __future__ import annotations

from faststream.redis.parser import BinaryMessageFormatV1

from shared.broker import envelope
from shared.broker.entries import DATA_KEY, payload_of
from shared.contract import ListingSubmitted


async def test_our_envelope_is_the_bytes_faststream_writes_for_an_event() -> None:
    body = ListingSubmitted.new("p1", "Chaise en chêne", "quatre pieds", "image_1_product_2.jpg")
    json = body.model_dump_json().encode()
    theirs = await BinaryMessageFormatV1.encode(
        message=json,
        reply_to=None,
        headers={"content-type": "application/json"},
        correlation_id="301e63d0-0d52-4324-90d7-a518e4100abc",
    )
    ours = envelope.encode(json, "301e63d0-0d52-4324-90d7-a518e4100abc")
    assert ours == theirs
    assert BinaryMessageFormatV1.parse(ours) == (
        json,
        {"correlation_id": "301e63d0-0d52-4324-90d7-a518e4100abc", "content-type": "application/json"},
    )


def test_each_envelope_gets_its_own_correlation_id() -> None:
    first, second = envelope.encode(b"{}"), envelope.encode(b"{}")
    assert first != second
    assert (
        BinaryMessageFormatV1.parse(first)[1]["correlation_id"]
        != BinaryMessageFormatV1.parse(second)[1]["correlation_id"]
    )


def test_body_of_reads_ours_and_refuses_what_is_not_one() -> None:
    assert envelope.body_of(envelope.encode(b'{"a": 1}')) == b'{"a": 1}'
    assert envelope.body_of(envelope.encode(b"")) == b""
    assert envelope.body_of(b'{"data": "{}", "headers": {}}') is None  # FastStream's legacy JSON envelope
    assert envelope.body_of(envelope.MAGIC + b"\x00\x02" + b"\x00" * 12) is None  # another version
    truncated = envelope.encode(b"{}")[:19]
    assert envelope.body_of(truncated) is None  # data offset past the end


def test_payload_of_falls_back_to_faststream_for_other_formats() -> None:
    assert payload_of({DATA_KEY: envelope.encode(b'{"a": 1}')}) == b'{"a": 1}'
    assert payload_of({DATA_KEY: b'{"data": "{\\"a\\": 2}", "headers": {}}'}) == b'{"a": 2}'
    assert payload_of({DATA_KEY: b'{"a": 3}'}) == b'{"a": 3}'  # raw JSON: the field itself
    assert payload_of({b"data": b'{"a": 4}'}) == b'{"a": 4}'
