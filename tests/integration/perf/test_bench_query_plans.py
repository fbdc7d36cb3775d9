"""`catalog bench queries` explains every statement a dashboard read runs: a read's own
``SET LOCAL`` (the review queue's serial plan) is replayed before its plans, not explained."""

from __future__ import annotations

from services.api.queries import review_queue
from services.bench.api import explain_cases
from shared.db.session import upgrade


def test_plans_of_a_read_that_sets_a_local_setting(postgres_url: str) -> None:
    upgrade(postgres_url)
    cases = {"review_queue": lambda session: review_queue(session, 0.6, limit=5)}
    report = explain_cases(postgres_url, cases)
    assert "--- SET LOCAL max_parallel_workers_per_gather = 0 (applied before the plans below)" in report
    plans = report.split("(applied before the plans below)")[1]
    assert plans.count("Execution Time") >= 2  # the capped count and the page, each explained
