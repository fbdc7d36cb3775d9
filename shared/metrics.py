"""Prometheus metrics of the workers (the API has its own registry and ``/metrics`` route).

Each worker process serves them on ``CATALOG_METRICS_PORT`` when set (``catalog up`` gives each
child its own port from that base).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "catalog_worker_messages_total",
    "Messages handled by a worker, by outcome: processed, failed (left pending for the "
    "reclaimer), invalid (dead-lettered at once), dead (dead-lettered after max deliveries or "
    "rejected by the handler).",
    ["worker", "stream", "outcome"],
)
BATCH_SECONDS = Histogram(
    "catalog_worker_batch_seconds",
    "Handler time per batch, publishing of its outputs included.",
    ["worker", "stream"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
BATCH_SIZE = Histogram(
    "catalog_worker_batch_size",
    "Valid events per handler call.",
    ["worker", "stream"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)

# Filled by each worker's health loop (shared/broker/health.py), for the alert rules: every replica of a
# kind reports the same values, so alerts take max() over them.
GROUP_LAG = Gauge(
    "catalog_stream_group_lag",
    "Entries of the stream not yet delivered to the worker's consumer group.",
    ["stream", "group"],
)
GROUP_PENDING = Gauge(
    "catalog_stream_group_pending",
    "Entries delivered to the group and not acked yet.",
    ["stream", "group"],
)
PENDING_OLDEST_SECONDS = Gauge(
    "catalog_stream_pending_oldest_seconds",
    "Age (since it was published) of the oldest entry pending in the group; 0 when none.",
    ["stream", "group"],
)
WORKER_READY = Gauge(
    "catalog_worker_ready",
    "1 when every readiness check of the worker passed on its last heartbeat (its /readyz is "
    "200), else 0. Scraped even while the pod is not ready, so the alert sees it.",
    ["worker"],
)
JOINS = Counter(
    "catalog_fusion_joins_total",
    "Fusion join results per arriving half: waiting (first half), complete, duplicate.",
    ["result"],
)
OVERDUE = Gauge(
    "catalog_overdue_submissions",
    "Submissions found overdue by the reconciler's last pass: no prediction and no dead letter "
    "CATALOG_RECONCILE_AFTER_S after their last publication (re-published at once).",
)
RECONCILED = Counter(
    "catalog_reconciled_submissions_total",
    "Submissions handled by the reconciler, by action: republished, closed_predicted, closed_dead.",
    ["action"],
)
DEPENDENCY_UP = Gauge(
    "catalog_dependency_up",
    "0 while the worker holds a batch because this dependency (sql, redis, triton, translator) "
    "is unreachable (shared/dependencies.py), 1 once a retry succeeded; a series appears with "
    "the worker's first outage of that dependency.",
    ["worker", "dependency"],
)
