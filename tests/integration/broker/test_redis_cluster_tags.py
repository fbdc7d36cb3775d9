"""Past one Redis, on a real cluster-enabled ``redis-server`` (one node holding all 16,384
slots, which refuses any command whose keys span two slots, as every node of a cluster does):
with ``CATALOG_REDIS_HASH_TAGS`` the fusion join's Lua script (join state, version pin and
deadlines), its expiry sweep and a stream with its consumer group run; without, the same
script is refused with CROSSSLOT."""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from services.fusion.expiry import claim_expired
from services.fusion.join import join_batch
from shared.broker.trimming import groups_key
from shared.config import Settings
from shared.contract import ImageFeatures, Stream

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="needs a redis-server binary")


def _free_port_pair() -> int:
    """A free port whose cluster bus port (+10,000) is free too: at most 55,535."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randint(20_000, 55_000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10_000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair")


@pytest.fixture
def cluster_node(tmp_path: Path) -> Iterator[str]:
    """A one-node Redis Cluster on a free port (all slots assigned), stopped afterwards."""
    port = _free_port_pair()
    args = [str(REDIS_SERVER), "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"]
    args += ["--cluster-config-file", str(tmp_path / "nodes.conf"), "--dir", str(tmp_path), "--save", ""]
    args += ["--logfile", str(tmp_path / "redis.log")]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cli = [str(Path(str(REDIS_SERVER)).with_name("redis-cli")), "-p", str(port)]
        for _ in range(1200):  # up to a minute on a loaded machine
            if subprocess.run([*cli, "ping"], capture_output=True, text=True).stdout.strip() == "PONG":
                break
            time.sleep(0.05)
        added = subprocess.run(
            [*cli, "cluster", "addslotsrange", "0", "16383"], capture_output=True, text=True
        )
        log = (tmp_path / "redis.log").read_text() if (tmp_path / "redis.log").exists() else ""
        assert added.stdout.strip() == "OK", f"{added.stdout}{added.stderr}{server.poll()}{log[-2000:]}"
        for _ in range(1200):  # up to a minute on a loaded machine
            if (
                "cluster_state:ok"
                in subprocess.run([*cli, "cluster", "info"], capture_output=True, text=True).stdout
            ):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _half() -> ImageFeatures:
    return ImageFeatures(
        submission_id=uuid4(), listing_id="L1", model_version="v1", status="missing", reason="not_found"
    )


async def _join_and_sweep(url: str, settings: Settings) -> tuple[str, int]:
    redis = Redis.from_url(url)
    try:
        status = (await join_batch(redis, settings, [_half()]))[0].status
        await asyncio.sleep(1.1)  # past the 1 s join deadline
        swept = len(await claim_expired(redis, settings))
        stream = settings.key(Stream.SUBMITTED)  # a stream with its group and group set
        await redis.xgroup_create(stream, "writer", id="0", mkstream=True)
        await redis.xadd(stream, {"payload": "{}"})
        await redis.sadd(groups_key(settings, stream), "writer")
        read: Any = await redis.xreadgroup("writer", "c1", {stream: ">"}, count=10)
        assert read and len(read[0][1]) == 1
        return status, swept
    finally:
        await redis.aclose()


def test_hash_tagged_keys_run_on_a_cluster_node(cluster_node: str) -> None:
    settings = Settings(redis_url=cluster_node, stream_prefix="t:", redis_hash_tags=True, join_ttl_s=1)
    assert asyncio.run(_join_and_sweep(cluster_node, settings)) == ("waiting", 1)


def test_untagged_keys_are_refused_across_slots(cluster_node: str) -> None:
    settings = Settings(redis_url=cluster_node, stream_prefix="t:", join_ttl_s=1)
    with pytest.raises(ResponseError, match="don't hash to the same slot"):  # CROSSSLOT
        asyncio.run(_join_and_sweep(cluster_node, settings))
