"""The broker's parser hands FastStream placeholders, never the entries (issue 27): our handlers
parse ``raw_message`` themselves, so FastStream decoding every entry was CPU thrown away."""

from __future__ import annotations

from typing import Any

from shared.broker.entries import DATA_KEY, tolerant_parser


class Parsed:
    raw_message: Any = None


async def test_faststream_parses_placeholders_and_the_handler_keeps_the_entries() -> None:
    seen: list[Any] = []

    async def faststream(message: Any) -> Parsed:  # stands for the parser FastStream passes in
        seen.append(message)
        return Parsed()

    batch = {
        "data": [{DATA_KEY: b'{"listing_id": "p1"}'}, {b"other": b"\xff"}],
        "message_ids": [b"1-0", b"2-0"],
    }
    parsed = await tolerant_parser(batch, faststream)
    assert seen[0]["data"] == [{DATA_KEY: b"null"}, {DATA_KEY: b"null"}]
    assert parsed.raw_message is batch  # what the handler reads, untouched

    single = {"data": {DATA_KEY: b'{"listing_id": "p1"}'}, "message_ids": [b"3-0"]}  # a reclaimed entry
    parsed = await tolerant_parser(single, faststream)
    assert seen[1]["data"] == {DATA_KEY: b"null"}
    assert parsed.raw_message is single
