"""Bad-input corpus, stream side: every undecodable or invalid entry is dead-lettered at its
first delivery with the reason (raw bytes kept), and the entries after it are processed
(real Redis, the broker helper with a real worker). Also: trimming never drops unread work."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aredis

from shared.broker import EventPublisher
from shared.broker.trimming import trim_acknowledged
from shared.config import Settings
from shared.contract import DeadLetter, ListingSubmitted, Stream
from tests.conftest import REDIS_URL
from tests.integration.broker.crashy_worker import create_worker
from tests.waiting import eventually


def envelope(**fields: Any) -> bytes:
    base: dict[str, Any] = {"submission_id": str(uuid.uuid4()), "listing_id": "P1", "title": "ok"}
    base.update(fields)
    return json.dumps(base).encode()


# (id, the entry's fields, a fragment of the dead letter's error)
ENTRIES: list[tuple[str, dict[bytes, bytes], str]] = [
    ("no-data-field", {b"foo": b"bar"}, "validation error"),
    ("non-utf8", {b"__data__": b"\xff\xfe\x00\x81garbage"}, ""),
    ("not-json", {b"__data__": b"this is not json"}, "json"),
    ("json-array", {b"__data__": b"[1, 2, 3]"}, "ListingSubmitted"),
    ("no-submission-id", {b"__data__": b'{"listing_id": "P1", "title": "x"}'}, "submission_id"),
    ("schema-version-2", {b"__data__": envelope(schema_version=2)}, "schema_version"),
    ("nul-in-title", {b"__data__": envelope(title="a\x00b")}, "NUL"),
    ("nul-in-listing-id", {b"__data__": envelope(listing_id="a\x00b")}, "NUL"),
    ("lone-surrogate", {b"__data__": b'{"submission_id": "%s", "listing_id": "P1", "title": "\\ud800"}'
                        % str(uuid.uuid4()).encode()}, "title"),
    ("listing-id-too-long", {b"__data__": envelope(listing_id="x" * 129)}, "listing_id"),
    ("unknown-field", {b"__data__": envelope(price=3)}, "price"),
    ("bad-uuid", {b"__data__": envelope(submission_id="nope")}, "submission_id"),
    ("raw-data-field-garbage", {b"data": b"\x00\x01\x02"}, ""),
]  # fmt: skip


@pytest.fixture(scope="module")
def outcome() -> Iterator[dict[str, Any]]:
    """All bad entries, then a good offer, through one real worker; what came out."""
    prefix = f"rel-streams-{uuid.uuid4().hex[:8]}:"
    settings = Settings(
        redis_url=REDIS_URL, stream_prefix=prefix, reclaim_idle_ms=500, max_deliveries=3, batch_size=8
    )

    async def run() -> dict[str, Any]:
        client = aredis.Redis.from_url(REDIS_URL)
        key = settings.key(Stream.SUBMITTED)
        ids: dict[str, str] = {}
        for name, fields, _ in ENTRIES:
            ids[name] = (await client.xadd(key, fields)).decode()  # type: ignore[arg-type]
        good = ListingSubmitted.new("GOOD-1", "a fine offer")
        async with EventPublisher(settings) as pub:
            await pub.publish(Stream.SUBMITTED, [good])
        async with create_worker(settings).running():
            await eventually(lambda: client.lrange(settings.key("completions"), 0, -1), timeout_s=60)
            await eventually(lambda: _count(client, settings.key(Stream.DEAD), len(ENTRIES)), timeout_s=60)
            pending = (await client.xpending(key, "crashy"))["pending"]
        dead_entries = await client.xrange(settings.key(Stream.DEAD))
        letters = [DeadLetter.model_validate_json(_payload(fields)) for _, fields in dead_entries]
        completions = [c.decode() for c in await client.lrange(settings.key("completions"), 0, -1)]
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        return {"ids": ids, "letters": {lt.message_id: lt for lt in letters}, "done": completions,
                "good": str(good.submission_id), "pending": pending}  # fmt: skip

    yield asyncio.run(run())


async def _count(client: aredis.Redis, key: str, n: int) -> bool:
    return int(await client.xlen(key)) >= n


def _payload(fields: dict[bytes, bytes]) -> bytes:
    from shared.broker import payload_of

    return payload_of(fields)


@pytest.mark.parametrize(("name", "fields", "fragment"), ENTRIES, ids=[e[0] for e in ENTRIES])
def test_bad_entry_is_dead_lettered_at_first_delivery(
    outcome: dict[str, Any], name: str, fields: dict[bytes, bytes], fragment: str
) -> None:
    letter = outcome["letters"].get(outcome["ids"][name])
    assert letter is not None, f"no dead letter for {name}"
    assert (letter.reason, letter.attempts, letter.stream) == ("invalid_payload", 1, "listings.submitted")
    assert fragment.lower() in letter.error.lower(), letter.error
    raw = fields.get(b"__data__")
    if raw is not None and letter.payload_base64 is not None:
        assert base64.b64decode(letter.payload_base64) == raw  # the exact bytes are kept
    if raw is not None:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            assert letter.payload_base64 is not None


def test_the_rest_of_the_stream_goes_on(outcome: dict[str, Any]) -> None:
    assert outcome["done"] == [outcome["good"]]
    assert len(outcome["letters"]) == len(ENTRIES)  # each exactly once
    assert outcome["pending"] == 0  # nothing left to be retried forever


async def test_trimming_drops_acknowledged_entries_only(redis_prefix: str) -> None:
    """Defect 5: XTRIM MINID below what every group still needs; a group that does not exist
    yet blocks trimming (it would start from the beginning)."""
    client = aredis.Redis.from_url(REDIS_URL)
    key = f"{redis_prefix}s"
    try:
        ids = [await client.xadd(key, {b"n": str(i).encode()}) for i in range(10)]
        await client.xgroup_create(key, "fast", id="0")
        await client.xgroup_create(key, "slow", id="0")
        assert await trim_acknowledged(client, key, {"fast", "slow", "later"}) == 0  # "later" missing
        fast = await client.xreadgroup("fast", "c", {key: ">"}, count=10)
        await client.xack(key, "fast", *[mid for mid, _ in fast[0][1]])
        slow = await client.xreadgroup("slow", "c", {key: ">"}, count=6)
        await client.xack(key, "slow", *[mid for mid, _ in slow[0][1][:3]])  # 3 acked, 3 pending
        assert await trim_acknowledged(client, key, {"fast", "slow"}) == 3
        remaining = [mid for mid, _ in await client.xrange(key)]
        assert remaining == ids[3:]  # the pending ones and the unread ones are all still there
        await client.xack(key, "slow", *[mid for mid, _ in slow[0][1][3:]])
        assert await trim_acknowledged(client, key, {"fast", "slow"}) == 3
        assert [mid for mid, _ in await client.xrange(key)] == ids[6:]  # never unread work
    finally:
        await client.aclose()
