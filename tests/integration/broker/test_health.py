"""A worker's /livez, /readyz and /metrics on CATALOG_METRICS_PORT, against real Redis."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

from redis.asyncio import Redis

from shared.broker import Consumer, WorkerApp, WorkerSpec
from shared.config import Settings
from shared.contract import ListingSubmitted, Stream
from tests.conftest import REDIS_URL
from tests.waiting import eventually

PORT = 18311  # this branch's port range


def get(path: str, port: int = PORT) -> tuple[int, dict[str, Any] | str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
            body = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read().decode(), exc.code
    return status, json.loads(body) if body.startswith("{") else body


async def nothing(events: list[ListingSubmitted], deps: dict[str, bool]) -> list[Any]:
    return []


async def open_deps(settings: Settings, redis: Redis) -> dict[str, bool]:
    return {"model": False}


async def model_ready(deps: dict[str, bool]) -> None:
    if not deps["model"]:
        raise RuntimeError("model not loaded")


SPEC = WorkerSpec(
    name="health-probe",
    consumes=(Consumer(Stream.SUBMITTED, ListingSubmitted, nothing),),
    publishes=(),
    open=open_deps,
    ready=model_ready,
)


def settings(prefix: str, port: int = PORT) -> Settings:
    return Settings(redis_url=REDIS_URL, stream_prefix=prefix, metrics_port=port, metrics_host="127.0.0.1")


async def test_ready_only_once_dependencies_serve_and_metrics_include_group_lag(redis_prefix: str) -> None:
    holder: dict[str, dict[str, bool]] = {}

    async def opener(s: Settings, redis: Redis) -> dict[str, bool]:
        holder["deps"] = await open_deps(s, redis)
        return holder["deps"]

    worker = WorkerApp.from_spec(SPEC, settings(redis_prefix), open_deps=opener)
    async with worker.running():
        assert get("/readyz")[0] == 503  # before the first heartbeat: not ready
        await eventually(lambda: "dependencies" in str(get("/readyz")[1]))
        status, body = get("/readyz")
        assert status == 503
        assert isinstance(body, dict) and body["checks"]["dependencies"] == "RuntimeError: model not loaded"
        assert body["checks"]["redis"] == "ok"
        assert get("/livez")[0] == 200
        assert 'catalog_worker_ready{worker="health-probe"} 0.0' in str(get("/metrics")[1])
        holder["deps"]["model"] = True
        await eventually(lambda: get("/readyz")[0] == 200)
        metrics = get("/metrics")[1]
        assert isinstance(metrics, str)
        assert 'catalog_worker_ready{worker="health-probe"} 1.0' in metrics
        for lane_suffix in ("", ".bulk"):  # the lag of both lanes
            stream = f"{redis_prefix}listings.submitted{lane_suffix}"
            assert f'catalog_stream_group_lag{{group="health-probe",stream="{stream}"}}' in metrics
    assert await asyncio.to_thread(lambda: _refused(PORT))  # stopped with the worker


async def test_a_dead_background_task_fails_liveness(redis_prefix: str) -> None:
    async def crash(deps: dict[str, bool]) -> None:
        raise ValueError("table gone")

    spec = WorkerSpec(name="health-bg", consumes=(), publishes=(), open=open_deps, background=crash)
    async with WorkerApp.from_spec(spec, settings(redis_prefix, PORT + 1)).running():
        await eventually(lambda: get("/livez", PORT + 1)[0] == 503)
        body = get("/livez", PORT + 1)[1]
        assert (
            isinstance(body, dict)
            and "background task health-bg died: ValueError: table gone" in body["error"]
        )


def _refused(port: int) -> bool:
    try:
        get("/livez", port)
    except OSError:
        return True
    return False
