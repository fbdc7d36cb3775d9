"""Dashboard queries over stored predictions (docs/architecture.md §1 users 3), PostgreSQL and SQLite.

Each returns plain JSON-ready dicts; the API serves them and ``catalog bench queries`` times
them on 100k predictions. Time arithmetic differs per dialect and is isolated in
:func:`_epoch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session, aliased, load_only

from services.api.counts import CountFilter, counts_by_code, versions_seen
from shared.db.listings import as_utc
from shared.db.models import Category, Listing, ListingLabel, Prediction, PredictionMinute, VersionPairCount
from shared.taxonomy.store import CodeInfo, directory


@dataclass(frozen=True)
class PredictionFilter:
    """Common filters of the dashboard: a time window on ``classified_at``, origin, version;
    live predictions only unless ``shadow`` (a shadow candidate's are counted apart)."""

    since: datetime | None = None
    until: datetime | None = None
    origin: str | None = None
    model_version: str | None = None
    shadow: bool = False

    def apply(self, query: Select[Any]) -> Select[Any]:
        query = query.where(Prediction.shadow.is_(self.shadow))
        if self.since is not None:
            query = query.where(Prediction.classified_at >= as_utc(self.since))
        if self.until is not None:
            query = query.where(Prediction.classified_at < as_utc(self.until))
        if self.origin is not None:
            query = query.where(Prediction.origin == self.origin)
        if self.model_version is not None:
            query = query.where(Prediction.model_version == self.model_version)
        return query


def _epoch(session: Session, column: Any) -> ColumnElement[float]:
    """Seconds since 1970 of a timestamp column (or of an ISO-8601 string on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_part("epoch", column)  # double precision (EXTRACT is numeric: slow)
    return (func.julianday(column) - 2440587.5) * 86400.0


def _iso(value: datetime | None) -> str | None:
    converted = as_utc(value)
    return converted.isoformat() if converted else None


def category_distribution(
    session: Session, flt: PredictionFilter, *, level: int | None = None, parent: int | None = None
) -> dict[str, Any]:
    """Predictions per category in the window (largest first), with names, paths and shares,
    read from the writer's per-category counts (services.api.counts: exact for any window).

    Read through the taxonomy: a merged code counts under its target (``merged_from`` lists
    the old codes counted there); ``level`` rolls leaves up to their ancestor at that level,
    ``parent`` keeps only the codes under it (drill-down)."""
    window = CountFilter(flt.since, flt.until, flt.origin, flt.model_version, flt.shadow)
    codes = directory(session)
    counts: dict[int, list[float]] = {}
    merged_from: dict[int, set[int]] = {}
    for code, (found, conf_sum) in counts_by_code(session, window).items():
        target = _read_as(codes, code, level)
        info = codes.get(code)
        if info is not None and info.merged_into is not None:
            merged_from.setdefault(target, set()).add(code)
        if parent is not None and parent not in _ancestors(codes, target):
            continue
        entry = counts.setdefault(target, [0.0, 0.0])
        entry[0] += found
        entry[1] += conf_sum
    total = sum(int(n) for n, _ in counts.values())
    items = []
    for code, (n, conf_sum) in sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0])):
        info = codes.get(code)
        items.append(
            {
                "prdtypecode": code,
                "label": info.name if info else str(code),
                "path": info.path if info else str(code),
                "level": info.level if info else 1,
                "leaf": info.leaf if info else True,
                "count": int(n),
                "share": round(int(n) / total, 6) if total else 0.0,
                "mean_confidence": round(conf_sum / n, 4) if n else 0.0,
                "merged_from": sorted(merged_from.get(code, ())),
            }
        )
    return {"total": total, "level": level, "parent": parent, "categories": items}


def _ancestors(codes: dict[int, CodeInfo], code: int) -> list[int]:
    chain = [code]
    while (info := codes.get(chain[-1])) is not None and info.parent is not None and len(chain) < 64:
        chain.append(info.parent)
    return chain


def _read_as(codes: dict[int, CodeInfo], code: int, level: int | None) -> int:
    """A predicted code as read now: its merge target, rolled up to ``level`` if asked."""
    info = codes.get(code)
    if info is not None and info.merged_into is not None:
        code = info.merged_into
    if level is None:
        return code
    chain = _ancestors(codes, code)[::-1]  # root first
    return chain[min(level, len(chain)) - 1]


def with_names(codes: dict[int, CodeInfo], code: int) -> dict[str, Any]:
    """Name and path of a code for a reader (the code itself when no taxonomy knows it)."""
    info = codes.get(code)
    return {"name": info.name, "path": info.path} if info else {"name": str(code), "path": str(code)}


def review_queue(
    session: Session,
    threshold: float,
    limit: int = 50,
    offset: int = 0,
    model_version: str | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    """Listings whose current prediction needs a person, most valuable review first.

    Which: the prediction's decision is ``review`` (its revision's thresholds, shared.ml.selective);
    a prediction without a decision (a revision older than the thresholds) is judged by the old
    rule, confidence below ``threshold``. A listing whose current prediction a reviewer has
    accepted or corrected leaves the queue.

    Order: by the expected value of a review, the chance that it corrects an error. With
    calibrated confidences that is ``1 - confidence`` (every correction is worth the same here:
    offers carry no price), so the least confident come first; ties by listing id.

    Pages: ``after`` (the previous page's ``next_after``) starts past that listing in this
    order, a keyset page read from ``ix_listings_review_order`` whatever its depth (``offset``
    still works but reads every row before it). ``total`` counts at most
    ``REVIEW_TOTAL_CAP`` listings (``total_capped`` says when there are more): an exact
    count of millions would cost more than the page.

    Both reads stop after at most ``REVIEW_TOTAL_CAP`` + ``offset`` + ``limit`` index entries, so
    on PostgreSQL they run serially (``SET LOCAL``, this transaction only): launching parallel
    workers cost ~25 ms per read at 10M predictions, most of a page's time
    (docs/benchmarks/queries.md). The page loads only the columns it shows.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    reviewed = (
        select(ListingLabel.id)
        .where(ListingLabel.listing_id == Listing.listing_id)
        .where(ListingLabel.corrects_submission_id == Listing.current_submission_id)
        .exists()
    )
    needs_review = (Prediction.decision == "review") | (
        Prediction.decision.is_(None) & (Listing.current_confidence < threshold)
    )
    base = (
        select(Listing)
        .outerjoin(Prediction, Prediction.submission_id == Listing.current_submission_id)
        .where(needs_review, ~reviewed)
    )
    if model_version is not None:
        base = base.where(Listing.current_model_version == model_version)
    capped = base.with_only_columns(Listing.listing_id).limit(REVIEW_TOTAL_CAP + 1).subquery()
    total = int(session.scalar(select(func.count()).select_from(capped)) or 0)
    page = base
    if after is not None:
        confidence, listing_id = parse_review_cursor(after)
        page = page.where(
            tuple_(Listing.current_confidence, Listing.listing_id) > tuple_(confidence, listing_id)
        )
    rows = session.execute(
        page.options(load_only(*REVIEW_COLUMNS))
        .add_columns(Prediction.top_k, Prediction.decision)
        .order_by(Listing.current_confidence, Listing.listing_id)  # 1 - confidence, descending
        .limit(limit)
        .offset(offset)
    ).all()
    codes = directory(session) if rows else {}
    items = [
        {
            "listing_id": listing.listing_id,
            "title": listing.title,
            "image_uri": listing.image_uri,
            "prdtypecode": listing.current_prdtypecode,
            "label": with_names(codes, listing.current_prdtypecode)["name"],
            **with_names(codes, listing.current_prdtypecode),
            "confidence": round(float(listing.current_confidence or 0.0), 4),
            "review_value": round(1.0 - float(listing.current_confidence or 0.0), 4),
            "decision": decision,
            "model_version": listing.current_model_version,
            "submission_id": str(listing.current_submission_id),
            "classified_at": _iso(listing.classified_at),
            "top_k": [{**entry, **with_names(codes, int(entry["prdtypecode"]))} for entry in top_k or []],
        }
        for listing, top_k, decision in rows
    ]
    last = rows[-1][0] if len(rows) == limit else None
    return {
        "threshold": threshold,
        "total": min(total, REVIEW_TOTAL_CAP),
        "total_capped": total > REVIEW_TOTAL_CAP,
        "items": items,
        "next_after": None if last is None else f"{float(last.current_confidence)!r}|{last.listing_id}",
    }


REVIEW_TOTAL_CAP = 1_000
REVIEW_COLUMNS = (
    Listing.listing_id,
    Listing.title,
    Listing.image_uri,
    Listing.current_prdtypecode,
    Listing.current_confidence,
    Listing.current_model_version,
    Listing.current_submission_id,
    Listing.classified_at,
)
"""What a review-queue item shows: not the description, the widest column."""
"""The most listings the review queue counts (a page reads 50; counting 10,000 cost 317 ms at 1M listings)."""


REVIEW_CURSOR_PATTERN = r"^([0-9]{1,20}(\.[0-9]{1,20})?(e[-+]?[0-9]{1,3})?\|.{1,150})?$"
"""What a ``next_after`` looks like, or empty (the first page), its length bounded in the pattern
(schema tools ignore a pattern beside maxLength): the API declares it, so a request the schema
admits parses."""


def parse_review_cursor(after: str) -> tuple[float, str]:
    """``confidence|listing_id`` (a ``next_after``) as its two keys; ValueError when malformed."""
    confidence, sep, listing_id = after.partition("|")
    if not sep or not listing_id:
        raise ValueError(f"Malformed review-queue cursor {after!r}: pass a page's next_after unchanged.")
    return float(confidence), listing_id


def throughput_and_lag(session: Session, flt: PredictionFilter, bucket_s: int = 60) -> dict[str, Any]:
    """Per time bucket: predictions written, end-to-end lag (submitted -> classified, mean and
    max) and writer lag; plus mean time per stage over the whole window.

    Reads the writer's per-minute sums (``prediction_minutes``), so its cost grows with the
    window's minutes, not with the predictions; buckets are whole minutes.
    """
    bucket_s = max(60, bucket_s - bucket_s % 60)
    m = PredictionMinute
    where: list[ColumnElement[bool]] = []
    if flt.since is not None:
        where.append(m.bucket_start >= _utc_minute(flt.since))
    if flt.until is not None:
        where.append(m.bucket_start < as_utc(flt.until))
    if flt.origin is not None:
        where.append(m.origin == flt.origin)
    if flt.model_version is not None:
        where.append(m.model_version == flt.model_version)
    bucket = func.floor(_epoch(session, m.bucket_start) / bucket_s).label("bucket")
    per_bucket = select(
        bucket, func.sum(m.count), func.sum(m.latency_sum), func.sum(m.latency_n), func.max(m.latency_max),
        func.sum(m.writer_sum),
    ).group_by(bucket).order_by(bucket)  # fmt: skip
    rows = session.execute(per_bucket.where(*where)).all()
    points = [
        {
            "t": datetime.fromtimestamp(float(b) * bucket_s, UTC).isoformat(),
            "count": int(n),
            "per_s": round(int(n) / bucket_s, 4),
            "lag_mean_s": _ratio(lat_sum, lat_n),
            "lag_max_s": _round(lat_max),
            "writer_lag_mean_s": _ratio(writer, n),
        }
        for b, n, lat_sum, lat_n, lat_max, writer in rows
    ]
    names = ("language", "text", "image", "fusion", "latency")
    totals = select(
        *(func.sum(getattr(m, f"{name}_sum")) for name in names),
        *(func.sum(getattr(m, f"{name}_n")) for name in names),
        func.sum(m.writer_sum),
        func.sum(m.count),
    )
    row = session.execute(totals.where(*where)).one()
    sums, counts = row[: len(names)], row[len(names) : 2 * len(names)]
    means = {name: _ratio(total, n) for name, total, n in zip(names, sums, counts, strict=True)}
    stages = {
        "language": means["language"],
        "text_encoder": means["text"],
        "image_encoder": means["image"],
        "fusion": means["fusion"],
        "writer": _ratio(row[-2], row[-1]),
        "total": means["latency"],
    }
    return {"bucket_s": bucket_s, "points": points, "stage_mean_s": stages}


def _utc_minute(value: datetime) -> datetime:
    converted = as_utc(value)
    assert converted is not None
    return converted.replace(second=0, microsecond=0)


def _ratio(total: Any, n: Any) -> float | None:
    return None if not n or total is None else round(float(total) / float(n), 4)


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def version_agreement(session: Session, version_a: str, version_b: str, top: int = 10) -> dict[str, Any]:
    """How often two model versions agree on the same listings (latest prediction of each),
    and the most frequent disagreements (a's code -> b's code)."""

    rows: Sequence[Any]
    if version_a != version_b:  # the writer's pair counts (migration 0011), not every listing's history
        rows = _pairs_rollup(session, version_a, version_b)
    elif session.get_bind().dialect.name == "postgresql":
        rows = _pairs_postgresql(session, version_a, version_b)
    else:

        def latest(version: str) -> Any:
            return (
                select(Prediction.listing_id, func.max(Prediction.id).label("pid"))
                .where(Prediction.model_version == version)
                .group_by(Prediction.listing_id)
                .subquery()
            )

        la, lb = latest(version_a), latest(version_b)
        pa, pb = aliased(Prediction), aliased(Prediction)
        rows = session.execute(
            select(pa.prdtypecode, pb.prdtypecode, func.count())
            .select_from(la)
            .join(lb, lb.c.listing_id == la.c.listing_id)
            .join(pa, pa.id == la.c.pid)
            .join(pb, pb.id == lb.c.pid)
            .group_by(pa.prdtypecode, pb.prdtypecode)
        ).all()
    labels = {code: info.name for code, info in directory(session).items()}
    compared = sum(int(n) for _, _, n in rows)
    agreed = sum(int(n) for a, b, n in rows if a == b)
    changes = sorted(
        ((int(n), int(a), int(b)) for a, b, n in rows if a != b), key=lambda r: (-r[0], r[1], r[2])
    )
    return {
        "version_a": version_a,
        "version_b": version_b,
        "compared": compared,
        "agreed": agreed,
        "agreement": round(agreed / compared, 6) if compared else None,
        "top_changes": [
            {
                "from": a,
                "from_label": labels.get(a, str(a)),
                "to": b,
                "to_label": labels.get(b, str(b)),
                "count": n,
            }
            for n, a, b in changes[:top]
        ],
    }


def _pairs_rollup(session: Session, version_a: str, version_b: str) -> list[Any]:
    """(code under a, code under b, listings) from ``version_pair_counts`` (stored a < b)."""
    c = VersionPairCount
    low, high = sorted((version_a, version_b))
    rows = session.execute(
        select(c.code_a, c.code_b, c.count).where(c.version_a == low, c.version_b == high, c.count > 0)
    ).all()
    return [(a, b, n) if low == version_a else (b, a, n) for a, b, n in rows]


def _pairs_postgresql(session: Session, version_a: str, version_b: str) -> list[Any]:
    """(code under a, code under b, listings) with DISTINCT ON over the covering index
    ``ix_predictions_version_listing`` (an index-only scan per version, then a merge join)."""

    def latest(version: str) -> Any:
        return (
            select(Prediction.listing_id, Prediction.prdtypecode)
            .where(Prediction.model_version == version)
            .order_by(Prediction.listing_id.desc(), Prediction.id.desc())
            .ext(distinct_on(Prediction.listing_id))
            .subquery()
        )

    la, lb = latest(version_a), latest(version_b)
    query = (
        select(la.c.prdtypecode, lb.c.prdtypecode, func.count())
        .select_from(la)
        .join(lb, lb.c.listing_id == la.c.listing_id)
        .group_by(la.c.prdtypecode, lb.c.prdtypecode)
    )
    return list(session.execute(query).all())


def model_versions_seen(session: Session) -> list[dict[str, Any]]:
    """Versions present in predictions, with counts and time span (for the dashboard filters)."""
    rows = versions_seen(session)  # the writer's day counts, not a scan of every prediction
    return [
        {"model_version": v, "count": int(n), "first": _iso(first), "last": _iso(last)}
        for v, n, first, last in sorted(rows, key=lambda r: str(r[3]), reverse=True)
    ]


def listing_detail(session: Session, listing_id: str, history: int = 50) -> dict[str, Any] | None:
    """A listing's content, current category and prediction history (newest first)."""
    listing = session.get(Listing, listing_id)
    if listing is None:
        return None
    preds = session.scalars(
        select(Prediction)
        .where(Prediction.listing_id == listing_id)
        .order_by(Prediction.classified_at.desc(), Prediction.id.desc())
        .limit(history)
    ).all()
    label = session.get(Category, listing.current_prdtypecode) if listing.current_prdtypecode else None
    return {
        "listing_id": listing.listing_id,
        "title": listing.title,
        "description": listing.description,
        "image_uri": listing.image_uri,
        "created_at": _iso(listing.created_at),
        "updated_at": _iso(listing.updated_at),
        "current": None
        if listing.current_prdtypecode is None
        else {
            "prdtypecode": listing.current_prdtypecode,
            "label": label.label if label else str(listing.current_prdtypecode),
            "path": label.path or label.label if label else str(listing.current_prdtypecode),
            "confidence": listing.current_confidence,
            "model_version": listing.current_model_version,
            "submission_id": str(listing.current_submission_id),
            "classified_at": _iso(listing.classified_at),
        },
        "history": [prediction_view(p) for p in preds],
    }


PUBLIC_IMAGE_REASONS = frozenset({"no_image", "version_mismatch"})


def public_image_reason(reason: str | None) -> str | None:
    """Why the photo was not used, as API callers see it: ``no_image`` (the offer had none),
    ``version_mismatch``, or ``unusable`` for every failure of the photo itself. Telling
    ``not_found`` from ``corrupt`` or ``too_large`` would tell which files exist under the
    image roots; the precise reason stays in the stored prediction and the encoder's events."""
    if reason is None or reason in PUBLIC_IMAGE_REASONS:
        return reason
    return "unusable"


def prediction_view(p: Prediction) -> dict[str, Any]:
    return {
        "submission_id": str(p.submission_id),
        "origin": p.origin,
        "job_id": str(p.job_id) if p.job_id else None,
        "prdtypecode": p.prdtypecode,
        "confidence": p.confidence,
        "top_k": p.top_k,
        "modalities": [m for m in p.modalities.split(",") if m],
        "model_version": p.model_version,
        "model_versions": p.model_versions,
        "language": p.language,
        "translation_status": p.translation_status,
        "image_missing_reason": public_image_reason(p.image_missing_reason),
        "submitted_at": _iso(p.submitted_at),
        "classified_at": _iso(p.classified_at),
        "written_at": _iso(p.written_at),
        "shadow": p.shadow,
        "decision": p.decision,
    }
