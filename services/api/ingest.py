"""``catalog ingest``: publish the offers of a challenge-layout directory, optionally wait for
their predictions and score them against the labels (weighted F1)."""

from __future__ import annotations

import asyncio
import csv
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from shared.broker import EventPublisher
from shared.config import Settings
from shared.contract import ListingSubmitted, Stream, listing_id_problem
from shared.db.listings import upsert_listings
from shared.db.models import Prediction
from shared.db.session import migrate, session_scope
from shared.db.submissions import record_submissions

X_FILES = ("X_train_update.csv", "X_test_update.csv")
Y_FILE = "Y_train_CVw08PX.csv"
IMAGE_DIRS = ("images/image_train", "images/image_test")


class LayoutError(ValueError):
    """The directory is not in the challenge layout."""


@dataclass(frozen=True)
class Offer:
    event: ListingSubmitted
    label: int | None


def _clean_id(value: str) -> str:
    value = (value or "").strip()
    return value[:-2] if value.endswith(".0") and value[:-2].isdigit() else value


def _image_uri(data_dir: Path, image_id: str, product_id: str) -> str | None:
    if not image_id:
        return None
    name = f"image_{image_id}_product_{product_id}.jpg"
    for folder in IMAGE_DIRS:
        if (data_dir / folder / name).is_file():
            return (data_dir / folder / name).resolve().as_uri()
    return (data_dir / IMAGE_DIRS[0] / name).resolve().as_uri()  # the encoder reports not_found


def read_offers(data_dir: Path, limit: int | None = None) -> list[Offer]:
    """Offers of ``data_dir`` in file order, with their labels when the Y file is there.

    A product id that is not a listing id (``shared.contract.LISTING_ID_PATTERN``, the API's)
    refuses the whole file, before anything is published."""
    x_path = next((data_dir / name for name in X_FILES if (data_dir / name).is_file()), None)
    if x_path is None:
        raise LayoutError(
            f"{data_dir} has neither {' nor '.join(X_FILES)}: expected the challenge layout "
            "(generate one with `catalog synth`)."
        )
    labels: dict[str, int] = {}
    y_path = data_dir / Y_FILE
    if x_path.name == X_FILES[0] and y_path.is_file():
        with y_path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                labels[_clean_id(row.get("", ""))] = int(_clean_id(row["prdtypecode"]))
    offers: list[Offer] = []
    with x_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"designation", "productid", "imageid"} - set(reader.fieldnames or ())
        if missing:
            raise LayoutError(f"{x_path} lacks the columns {sorted(missing)}")
        for row in reader:
            if limit is not None and len(offers) >= limit:
                break
            product_id = _clean_id(row["productid"])
            if not product_id:
                continue
            problem = listing_id_problem(product_id)  # the API's grammar: every id stays readable
            if problem:
                raise LayoutError(f"{x_path} line {reader.line_num}: {problem}")
            description = (row.get("description") or "").strip() or None
            event = ListingSubmitted.new(
                product_id,
                title=(row.get("designation") or "")[:1000],
                description=description[:100_000] if description else None,
                image_uri=_image_uri(data_dir, _clean_id(row["imageid"]), product_id),
            )
            offers.append(Offer(event, labels.get(_clean_id(row.get("", "")))))
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
            await asyncio.to_thread(_store, url, part)
            await publisher.publish(Stream.SUBMITTED, part)
            if progress:
                progress(len(part))


def _store(url: str, events: list[ListingSubmitted]) -> None:
    with session_scope(url) as session:
        upsert_listings(session, events)
        record_submissions(session, events)


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
