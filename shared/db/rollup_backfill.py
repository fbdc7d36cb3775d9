"""The writer's rollups recomputed in SQL from stored predictions: migration 0010's backfill and
the bulk seeder of ``catalog bench queries`` (``services.bench.seed_copy``), which loads
predictions with COPY and must leave the same sums the writer would have added row by row
(``services/writer/rollups.py``; a test compares both on the same rows).
"""

from __future__ import annotations

from itertools import pairwise

from sqlalchemy import Connection, text

from shared.db.models import COUNT_SPANS

_PG_UNIT = {60: "minute", 3600: "hour", 86400: "day"}
_SQLITE_FORMAT = {
    60: "%Y-%m-%d %H:%M:00.000000",
    3600: "%Y-%m-%d %H:00:00.000000",
    86400: "%Y-%m-%d 00:00:00.000000",
}


def _truncate(dialect: str, span_s: int, column: str) -> str:
    if dialect == "postgresql":  # the caller sets the session's time zone to UTC (days would shift)
        return f"date_trunc('{_PG_UNIT[span_s]}', {column})"
    return f"strftime('{_SQLITE_FORMAT[span_s]}', {column})"


def backfill_counts(conn: Connection) -> None:
    """Fill ``prediction_counts`` (assumed empty) from every stored prediction: the minutes from
    the predictions (one scan), each wider span from the span below it."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(text("SET LOCAL TimeZone = 'UTC'"))
    keys = "origin, model_version, shadow, decision, prdtypecode"
    minute = _truncate(dialect, COUNT_SPANS[0], "classified_at")
    conn.execute(
        text(
            f"INSERT INTO prediction_counts (span_s, bucket_start, {keys}, count, confidence_sum, "
            f"first_at, last_at) SELECT {COUNT_SPANS[0]}, {minute}, origin, model_version, shadow, "
            "coalesce(decision, ''), "
            "prdtypecode, count(*), sum(confidence), min(classified_at), max(classified_at) FROM predictions "
            f"GROUP BY {minute}, origin, model_version, shadow, coalesce(decision, ''), prdtypecode"
        )
    )
    for below, span in pairwise(COUNT_SPANS):
        bucket = _truncate(dialect, span, "bucket_start")
        conn.execute(
            text(
                f"INSERT INTO prediction_counts (span_s, bucket_start, {keys}, count, confidence_sum, "
                f"first_at, last_at) SELECT {span}, {bucket}, {keys}, sum(count), sum(confidence_sum), "
                f"min(first_at), max(last_at) FROM prediction_counts WHERE span_s = {below} "
                f"GROUP BY {bucket}, {keys}"
            )
        )


_STAGES = ("language", "text", "image", "fusion")


def backfill_minutes(conn: Connection) -> None:
    """Fill ``prediction_minutes`` (assumed empty) from the stored live predictions, with the
    stage spans ``services.writer.rollups.stage_spans`` computes (migration 0002's formula)."""
    if conn.dialect.name == "postgresql":
        epoch, stage = "date_part('epoch', {})", "(stage_timestamps->>'{}')::timestamptz"
        later = "greatest({}, {})"
    else:
        epoch, stage = "((julianday({}) - 2440587.5) * 86400.0)", "json_extract(stage_timestamps, '$.{}')"
        later = "max({}, {})"

    def span(start: str, end: str) -> str:
        return f"({epoch.format(end)} - {epoch.format(start)})"

    at = {name: stage.format(name) for name in ("submitted", "prepared", "text_encoded", "image_encoded")}
    parts = {
        "latency": span("submitted_at", "classified_at"),
        "language": span(at["submitted"], at["prepared"]),
        "text": span(at["prepared"], at["text_encoded"]),
        "image": span(at["submitted"], at["image_encoded"]),
        "fusion": span(later.format(at["text_encoded"], at["image_encoded"]), "classified_at"),
    }
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL TimeZone = 'UTC'"))
    minute = _truncate(conn.dialect.name, 60, "classified_at")
    sums = ", ".join(f"count({parts[n]}), coalesce(sum({parts[n]}), 0)" for n in _STAGES)
    conn.execute(
        text(
            "INSERT INTO prediction_minutes (bucket_start, origin, model_version, count, latency_n, "
            "latency_sum, latency_max, writer_sum, " + ", ".join(f"{n}_n, {n}_sum" for n in _STAGES) + ") "
            f"SELECT {minute}, origin, model_version, count(*), count({parts['latency']}), "
            f"coalesce(sum({parts['latency']}), 0), max({parts['latency']}), "
            f"coalesce(sum({span('classified_at', 'written_at')}), 0), {sums} "
            f"FROM predictions WHERE NOT shadow GROUP BY {minute}, origin, model_version"
        )
    )


_LATEST = (
    "SELECT listing_id, model_version, prdtypecode FROM (SELECT listing_id, model_version, prdtypecode, "
    "row_number() OVER (PARTITION BY listing_id, model_version ORDER BY id DESC) AS newest "
    "FROM predictions) AS ranked WHERE newest = 1"
)


def backfill_version_pairs(conn: Connection) -> None:
    """Fill ``version_pair_counts`` (assumed empty): every listing's latest code under each pair of
    versions it has, the query ``version_agreement`` ran before the rollup."""
    conn.execute(
        text(
            f"INSERT INTO version_pair_counts (version_a, version_b, code_a, code_b, count) WITH latest AS "
            f"({_LATEST}) SELECT a.model_version, b.model_version, a.prdtypecode, b.prdtypecode, count(*) "
            "FROM latest AS a JOIN latest AS b "
            "ON b.listing_id = a.listing_id AND a.model_version < b.model_version "
            "GROUP BY a.model_version, b.model_version, a.prdtypecode, b.prdtypecode"
        )
    )


def backfill_shadow_pairs(conn: Connection) -> None:
    """Fill ``shadow_pair_counts`` (assumed empty): each shadow prediction with the prediction of
    the submission it shadows."""
    conn.execute(
        text(
            "INSERT INTO shadow_pair_counts (live_version, shadow_version, live_code, shadow_code, count) "
            "SELECT live.model_version, s.model_version, live.prdtypecode, s.prdtypecode, count(*) "
            "FROM predictions AS s JOIN predictions AS live ON live.submission_id = s.shadow_of "
            "WHERE s.shadow AND s.shadow_of IS NOT NULL "
            "GROUP BY live.model_version, s.model_version, live.prdtypecode, s.prdtypecode"
        )
    )


def backfill_drift(conn: Connection) -> None:
    """Fill ``drift_counts`` (assumed empty) from the live ingested predictions: the minutes in
    one scan per signal, each wider span from the span below it."""
    from shared.db.drift_signals import signal_sql

    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(text("SET LOCAL TimeZone = 'UTC'"))
    minute = _truncate(dialect, COUNT_SPANS[0], "classified_at")
    for signal, value in signal_sql().items():
        conn.execute(
            text(
                "INSERT INTO drift_counts (span_s, bucket_start, model_version, signal, value, count) "
                f"SELECT {COUNT_SPANS[0]}, {minute}, model_version, '{signal}', {value}, count(*) "
                "FROM predictions WHERE NOT shadow AND origin = 'ingest' "
                f"GROUP BY {minute}, model_version, {value}"
            )
        )
    keys = "model_version, signal, value"
    for below, span in pairwise(COUNT_SPANS):
        bucket = _truncate(dialect, span, "bucket_start")
        conn.execute(
            text(
                f"INSERT INTO drift_counts (span_s, bucket_start, {keys}, count) "
                f"SELECT {span}, {bucket}, {keys}, sum(count) FROM drift_counts WHERE span_s = {below} "
                f"GROUP BY {bucket}, {keys}"
            )
        )
