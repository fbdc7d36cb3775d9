"""Offers of a challenge-layout directory for small sets (``read_offers``), publishing them,
waiting for their predictions and scoring them against the labels (weighted F1). The streaming
``catalog ingest`` path is ``ingest_rows`` (reading) and ``ingest_run`` (publishing)."""

from __future__ import annotations

import asyncio
import csv
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from services.api.ingest_rows import X_FILES, Y_FILE, LayoutError, RowReader, clean_id, find_source
from services.api.ingest_run import store_offers
from shared.broker import EventPublisher
from shared.config import Settings
from shared.contract import ListingSubmitted, Stream
from shared.db.models import Prediction
from shared.db.session import migrate, session_scope

__all__ = [
    "LayoutError",
    "Offer",
    "publish_offers",
    "read_labels",
    "read_offers",
    "wait_for_predictions",
    "weighted_f1",
]


@dataclass(frozen=True)
class Offer:
    event: ListingSubmitted
    label: int | None


def read_labels(data_dir: Path, x_file: str) -> dict[str, int]:
    """Label per index of the Y file (only for the train X file; empty without it)."""
    labels: dict[str, int] = {}
    y_path = data_dir / Y_FILE
    if x_file == X_FILES[0] and y_path.is_file():
        with y_path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                labels[clean_id(row.get("", ""))] = int(clean_id(row["prdtypecode"]))
    return labels


def read_offers(data_dir: Path, limit: int | None = None) -> list[Offer]:
    """Offers of ``data_dir`` in file order (new submission ids), with their labels when the Y
    file is there: for small generated sets (demo, benchmarks, tests).

    Strict: the first row the API would refuse raises LayoutError naming its row and reason
    (``catalog ingest`` streams instead, rejecting such rows and publishing the others)."""
    source = find_source(data_dir)
    labels = read_labels(data_dir, source.x_path.name)
    offers: list[Offer] = []
    with RowReader(source) as reader:
        for row in reader:
            if limit is not None and len(offers) >= limit:
                break
            if row.offer is None:
                raise LayoutError(f"{source.x_path} row {row.number} (line {row.line}): {row.reason}")
            o = row.offer
            event = ListingSubmitted.new(o.listing_id, o.title, o.description, o.image_uri)
            offers.append(Offer(event, labels.get(clean_id(row.index))))
    return offers


async def publish_offers(
    settings: Settings,
    events: Sequence[ListingSubmitted],
    chunk: int = 500,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Store each offer's content, then publish it, ``chunk`` at a time."""
    url = settings.effective_database_url
    await asyncio.to_thread(migrate, url)
    async with EventPublisher(settings) as publisher:
        for start in range(0, len(events), chunk):
            part = list(events[start : start + chunk])
            await asyncio.to_thread(store_offers, url, part)
            await publisher.publish(Stream.SUBMITTED, part)
            if progress:
                progress(len(part))


def fetch_predictions(
    url: str, submission_ids: Sequence[uuid.UUID], chunk: int = 1000
) -> dict[uuid.UUID, int]:
    """Predicted code per submission id, for those already stored."""
    found: dict[uuid.UUID, int] = {}
    with session_scope(url) as session:
        for start in range(0, len(submission_ids), chunk):
            part = list(submission_ids[start : start + chunk])
            query = select(Prediction.submission_id, Prediction.prdtypecode).where(
                Prediction.submission_id.in_(part)
            )
            found.update({sid: int(code) for sid, code in session.execute(query)})
    return found


def wait_for_predictions(
    url: str,
    submission_ids: Sequence[uuid.UUID],
    timeout_s: float,
    poll_s: float = 1.0,
    progress: Callable[[int], None] | None = None,
) -> dict[uuid.UUID, int]:
    """Poll the database until every submission has a prediction or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    pending = list(submission_ids)
    found: dict[uuid.UUID, int] = {}
    while pending:
        new = fetch_predictions(url, pending)
        if new:
            found.update(new)
            pending = [sid for sid in pending if sid not in found]
            if progress:
                progress(len(new))
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(poll_s)
    return found


def weighted_f1(offers: Sequence[Offer], predicted: dict[uuid.UUID, int]) -> float | None:
    """Weighted F1 over the labelled offers that have a prediction (None without labels)."""
    pairs = [
        (o.label, predicted[o.event.submission_id])
        for o in offers
        if o.label is not None and o.event.submission_id in predicted
    ]
    if not pairs:
        return None
    from sklearn.metrics import f1_score

    truth, pred = zip(*pairs, strict=True)
    return float(f1_score(truth, pred, average="weighted"))
