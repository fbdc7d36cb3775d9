"""Job leases on SQLite: one claimant per job, takeover only after the lease expires."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from shared.contract import utcnow
from shared.db.jobs import JobFilter, claim_next, create_job, get_job, heartbeat, set_status
from shared.db.session import session_scope, upgrade


def test_claim_heartbeat_and_takeover(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(url)
    with session_scope(url) as s:
        first = create_job(s, JobFilter(), 10).id
        second = create_job(s, JobFilter(), 10, page_size=7).id
    with session_scope(url) as s:
        assert claim_next(s, "a", lease_s=60) == first  # oldest first
        assert claim_next(s, "b", lease_s=60) == second
        assert claim_next(s, "c", lease_s=60) is None  # both held, leases fresh
        assert heartbeat(s, first, "a") and not heartbeat(s, first, "b")
        get_job(s, first).heartbeat_at = utcnow() - timedelta(seconds=120)  # runner a died
    with session_scope(url) as s:
        assert claim_next(s, "c", lease_s=60) == first
        assert get_job(s, first).runner == "c"
        assert not heartbeat(s, first, "a")  # a, if it comes back, learns it lost the job
        set_status(s, second, "cancelled")
        get_job(s, second).heartbeat_at = utcnow() - timedelta(seconds=120)
    with session_scope(url) as s:
        assert claim_next(s, "d", lease_s=60) is None  # cancelled jobs are never claimed
