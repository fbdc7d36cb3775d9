"""Past one Redis: with ``CATALOG_REDIS_HASH_TAGS`` every key the code builds for one stream (both
lanes, consumer-group set, error hash) maps to one Redis Cluster slot, and so do the keys the
fusion join's Lua script touches together; streams spread over slots; off, keys are unchanged."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

from redis.crc import key_slot

from services.fusion.join import deadlines_key, join_key
from shared.broker.delivery import error_key
from shared.broker.lanes import stream_key
from shared.broker.trimming import groups_key
from shared.config import Settings
from shared.contract import LANES, Stream, lane_stream
from shared.inference.pinning import pin_key

TAGGED = Settings(stream_prefix="catalog:", redis_hash_tags=True)


def _stream_keys(settings: Settings, stream: Stream, lane: str) -> set[str]:
    key = stream_key(settings, stream, SimpleNamespace(lane=lane))
    assert key == settings.key(lane_stream(stream, lane))  # type: ignore[arg-type]
    return {
        key,
        groups_key(settings, key),
        error_key(settings, "writer", key),
        error_key(settings, "fusion", key),
    }


def test_every_key_of_a_stream_lane_maps_to_one_slot() -> None:
    slots = set()
    for stream in Stream:
        for lane in LANES:
            keys = _stream_keys(TAGGED, stream, lane)
            assert len({key_slot(k.encode()) for k in keys}) == 1, keys
            slots.add(key_slot(next(iter(keys)).encode()))
    assert len(slots) >= 8  # 12 stream keys: spread over the cluster, not one hot slot


def test_the_join_scripts_keys_share_a_slot() -> None:
    for sid in (uuid.uuid4() for _ in range(20)):
        keys = [join_key(TAGGED, sid), pin_key(TAGGED, sid), deadlines_key(TAGGED)]
        assert len({key_slot(k.encode()) for k in keys}) == 1, keys


def test_off_by_default_keys_are_the_prefixed_names() -> None:
    plain = Settings(stream_prefix="catalog:")
    assert plain.redis_hash_tags is False
    key = stream_key(plain, Stream.SUBMITTED, SimpleNamespace(lane="bulk"))
    assert key == "catalog:listings.submitted.bulk"
    assert groups_key(plain, key) == "catalog:groups:catalog:listings.submitted.bulk"
    assert join_key(plain, "x") == "catalog:join:x"
    assert TAGGED.key("listings.submitted") == "catalog:{listings.submitted}listings.submitted"
    assert TAGGED.key("explanation:abc") == "catalog:explanation:abc"  # a cache: spread by its name
