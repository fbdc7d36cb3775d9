"""A time window ``[since, until)`` cut along the rollups' buckets (``COUNT_SPANS``): whole days,
then whole hours and minutes at its edges, then the raw predictions for the seconds left, so a
rollup read is exact (``services/api/counts.py``, ``shared/lifecycle/drift.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.db.models import COUNT_SPANS, count_bucket


@dataclass(frozen=True)
class Part:
    """A piece of a window: ``span_s`` 0 means the raw predictions; None bounds are open."""

    span_s: int
    start: datetime | None
    end: datetime | None


def _ceil(at: datetime, span_s: int) -> datetime:
    floor = count_bucket(at, span_s)
    return floor if floor == at else floor + timedelta(seconds=span_s)


def window_parts(since: datetime | None, until: datetime | None, level: int = 0) -> Iterator[Part]:
    """Cover ``[since, until)`` by the coarsest buckets that fit inside it (level 0: raw rows,
    then ``COUNT_SPANS`` in order); every instant of the window falls in exactly one part."""
    spans = (0, *COUNT_SPANS)
    if level == len(spans) - 1:
        yield Part(spans[level], since, until)
        return
    span, wider = spans[level], spans[level + 1]
    inner_start = _ceil(since, wider) if since is not None else None
    inner_end = count_bucket(until, wider) if until is not None else None
    if inner_start is not None and inner_end is not None and inner_start >= inner_end:
        if since is None or until is None or since < until:
            yield Part(span, since, until)
        return
    if since is not None and inner_start is not None and since < inner_start:
        yield Part(span, since, inner_start)
    yield from window_parts(inner_start, inner_end, level + 1)
    if until is not None and inner_end is not None and inner_end < until:
        yield Part(span, inner_end, until)
