"""The chaos suite's process table (tools/chaos/cluster.py), built without starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli.registry import worker_names
from tools.chaos.cluster import RECONCILE_INTERVAL_S, Cluster, Ports


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    return Cluster(
        tmp_path, Ports(18200), {"CATALOG_STREAM_PREFIX": "t:"}, "postgresql+psycopg://x@127.0.0.1/t",
        tmp_path / "models", tmp_path / "venv", Path("/usr/bin/redis-server"), worker_names(),
    )  # fmt: skip


def test_every_process_is_defined_and_started_once(cluster: Cluster) -> None:
    """One process per registered kind plus the API, Redis and Triton; none started twice."""
    assert len(cluster.pipeline) == len(set(cluster.pipeline))
    assert set(cluster.pipeline) == set(worker_names()) | {"api"}
    assert set(cluster.procs) == set(cluster.pipeline) | {"redis", "triton"}
    commands = [tuple(p.argv) for p in cluster.procs.values()]
    assert len(commands) == len(set(commands))
    reconcilers = [n for n, p in cluster.procs.items() if any("reconcile" in w for w in p.argv)]
    assert reconcilers == ["reconciler"]


def test_the_reconciler_is_the_registered_worker_with_a_short_interval(cluster: Cluster) -> None:
    proc = cluster.procs["reconciler"]
    assert proc.argv[-2:] == ["worker", "reconciler"] and proc.keep_alive
    assert proc.env["CATALOG_RECONCILE_INTERVAL_S"] == RECONCILE_INTERVAL_S
    assert "CATALOG_RECONCILE_INTERVAL_S" not in cluster.procs["writer"].env


def test_a_name_cannot_be_defined_twice(cluster: Cluster) -> None:
    with pytest.raises(ValueError, match="reconciler"):
        cluster._add("reconciler", ["catalog", "reconcile"])
