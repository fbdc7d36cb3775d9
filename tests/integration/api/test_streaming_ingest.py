"""Streaming ``catalog ingest`` on real Redis and SQL: every bad row is rejected with its number
and reason into a re-ingestible rejects folder while every good row is published, and a run
interrupted part-way resumes publishing each row exactly once (the submissions ledger tells)."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import update

from services.api.ingest_rows import REJECT_COLUMNS, find_source
from services.api.ingest_run import (
    IngestOptions,
    IngestSummary,
    PipelineSink,
    ingest_file,
    ingest_to_pipeline,
)
from services.reconciler.reconciler import reconcile_once
from shared.broker import EventPublisher
from shared.broker.publishing import read_events
from shared.config import Settings
from shared.contract import ListingSubmitted, Stream, utcnow
from shared.db.models import Submission
from shared.db.session import session_scope
from tests.conftest import REDIS_URL

HEADER = b",designation,description,productid,imageid\n"
BAD_ROWS: dict[str, bytes] = {  # what each bad row is, and the reason it must be named by
    "NUL": b'2,"Lego\x00Star",,bad-nul,12\n',
    "listing_id must be": b"3,Long id,," + b"9" * 200 + b",13\n",
    "not valid UTF-8": b"4,Caf\xe9 cr\xe8me,,bad-utf8,14\n",
    "designation: too long, 1001 characters where the limit is 1000": b"5,"
    + b"t" * 1001
    + b",,bad-title,15\n",
    "description: too long, 140000 characters where the limit is 100000": b'6,Roman,"'
    + b"d" * 140_000
    + b'",bad-description,16\n',
    "productid: blank": b"7,No id,,,17\n",
    "listing_id must be 1 to 128": b"8,Slash,,shop/102,18\n",
}


def good_row(i: int) -> bytes:
    return f'{i},"Offre {i}, neuve","<p>ligne\nsuivante</p>",{1000 + i},{i}\n'.encode()


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, redis_prefix: str, tmp_path: Path) -> Settings:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    return Settings(redis_url=REDIS_URL, stream_prefix=redis_prefix, database_url=url, image_roots=[tmp_path])


def write_x(folder: Path, rows: Sequence[bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "X_train_update.csv").write_bytes(HEADER + b"".join(rows))
    return folder


def published(settings: Settings, at_least: int) -> list[ListingSubmitted]:
    """Every event on listings.submitted (waits briefly for one more, so extras are seen)."""
    return asyncio.run(read_events(settings, Stream.SUBMITTED, ListingSubmitted, at_least + 1, timeout_s=0.5))


def ingest(settings: Settings, data_dir: Path, **options: object) -> IngestSummary:
    return asyncio.run(ingest_to_pipeline(settings, find_source(data_dir), IngestOptions(**options)))  # type: ignore[arg-type]


def test_bad_rows_are_named_and_rejected_and_every_good_row_is_published(
    settings: Settings, tmp_path: Path
) -> None:
    rows = [good_row(0), good_row(1), *BAD_ROWS.values(), good_row(9)]
    data = write_x(tmp_path / "data", rows)
    (data / "images").mkdir()
    summary = ingest(settings, data, chunk=2)

    assert (summary.rows, summary.published, summary.rejected) == (10, 3, 7)
    reasons = {int(str(bad["row"])): str(bad["reason"]) for bad in summary.first_rejects}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9]  # data rows, the header is row 0
    for (expected, _), row in zip(BAD_ROWS.items(), sorted(reasons), strict=True):
        assert expected in str(reasons[row]), (row, reasons[row])
    assert [bad["line"] for bad in summary.first_rejects][:2] == [6, 7]  # two-line descriptions before
    events = published(settings, 3)
    assert sorted(e.listing_id for e in events) == ["1000", "1001", "1009"]

    rejects = data / "rejects"
    assert summary.rejects_file == str(rejects / "X_train_update.csv")
    raw = (rejects / "X_train_update.csv").read_bytes()
    assert b"Caf\xe9 cr\xe8me" in raw  # written back byte for byte, to be fixed where it was
    with (rejects / "X_train_update.csv").open(newline="", encoding="utf-8", errors="surrogateescape") as f:
        table = list(csv.reader(f))
    assert table[0] == HEADER.decode().strip().split(",") + list(REJECT_COLUMNS)
    assert [r[-2] for r in table[1:]] == ["3", "4", "5", "6", "7", "8", "9"]
    assert (rejects / "images").is_symlink()

    fixed = [table[0]] + [[r[0], f"Fixed {i}", "", f"fixed-{i}", *r[4:]] for i, r in enumerate(table[1:])]
    with (rejects / "X_train_update.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(fixed)  # fixed in place; source_row and reason stay (ignored)
    again = ingest(settings, rejects)
    assert (again.published, again.rejected, again.rejects_file) == (7, 0, None)
    assert sorted(e.listing_id for e in published(settings, 10)) == sorted(
        ["1000", "1001", "1009", *(f"fixed-{i}" for i in range(7))]
    )


class FailingSink(PipelineSink):
    """Dies after ``stored`` batches were stored: before publishing the next (``mid_batch``) or
    right after publishing it."""

    def __init__(self, settings: Settings, publisher: EventPublisher, stored: int, mid_batch: bool) -> None:
        super().__init__(settings, publisher)
        self.stored, self.mid_batch, self.batches = stored, mid_batch, 0

    async def submit(self, events: Sequence[ListingSubmitted]) -> None:
        self.batches += 1
        if self.mid_batch and self.batches == self.stored:
            from services.api.ingest_run import store_offers

            await asyncio.to_thread(store_offers, self.url, list(events))
            raise ConnectionError("killed between the ledger and Redis")
        await super().submit(events)


def run_with(
    settings: Settings, data: Path, make: Callable[[EventPublisher], PipelineSink], **kw: object
) -> None:
    async def go() -> None:
        from shared.db.session import migrate

        migrate(settings.effective_database_url)
        async with EventPublisher(settings) as publisher:
            await ingest_file(find_source(data), make(publisher), IngestOptions(**kw))  # type: ignore[arg-type]

    asyncio.run(go())


def test_an_interrupted_ingest_resumes_publishing_each_row_once(settings: Settings, tmp_path: Path) -> None:
    data = write_x(tmp_path / "data", [good_row(i) for i in range(10)] + [BAD_ROWS["productid: blank"]])

    def stop_after_two(batches: int) -> None:
        if batches == 2:
            raise KeyboardInterrupt  # Ctrl-C after 2 batches of 3

    with pytest.raises(KeyboardInterrupt):
        ingest(settings, data, chunk=3, after_batch=stop_after_two)
    assert len(published(settings, 6)) == 6
    resumed = ingest(settings, data, chunk=4)  # another batch size: the ids are per row, not per batch
    assert (resumed.published, resumed.already_submitted, resumed.rejected) == (4, 6, 1)
    events = published(settings, 10)
    assert Counter(e.listing_id for e in events) == Counter(str(1000 + i) for i in range(10))
    assert len({e.submission_id for e in events}) == 10

    done = ingest(settings, data)  # the same file once more: nothing left to publish
    assert (done.published, done.already_submitted) == (0, 10)
    anew = ingest(settings, data, again=True)  # unless asked to submit it anew
    assert anew.published == 10 and len(published(settings, 20)) == 20


def test_a_batch_stored_but_not_published_is_left_to_the_reconciler_once(
    settings: Settings, tmp_path: Path
) -> None:
    data = write_x(tmp_path / "data", [good_row(i) for i in range(9)])
    with pytest.raises(ConnectionError):
        run_with(settings, data, lambda p: FailingSink(settings, p, stored=2, mid_batch=True), chunk=3)
    assert len(published(settings, 3)) == 3  # batch 1 published; batch 2 in the ledger only
    resumed = ingest(settings, data, chunk=3)
    assert (resumed.published, resumed.already_submitted) == (3, 6)

    classified = {e.submission_id for e in published(settings, 6)}
    with session_scope(settings.effective_database_url) as session:  # as if the writer had stored them
        session.execute(
            update(Submission).where(Submission.submission_id.in_(classified)).values(closed_at=utcnow())
        )

    async def reconcile() -> None:
        async with EventPublisher(settings) as publisher:
            await reconcile_once(settings, publisher, older_than_s=0)

    asyncio.run(reconcile())  # a pass past its deadline: only the stranded batch is still open
    events = published(settings, 9)
    assert Counter(e.listing_id for e in events) == Counter(str(1000 + i) for i in range(9))
    ids: set[UUID] = {e.submission_id for e in events}
    assert len(ids) == 9


def test_the_command_prints_each_rejected_row_and_writes_the_summary(
    settings: Settings, tmp_path: Path
) -> None:
    data = write_x(tmp_path / "data", [good_row(0), BAD_ROWS["NUL"], BAD_ROWS["productid: blank"]])
    env = {**os.environ, "CATALOG_DATABASE_URL": settings.effective_database_url,
           "CATALOG_REDIS_URL": REDIS_URL, "CATALOG_STREAM_PREFIX": settings.stream_prefix}  # fmt: skip
    cmd = [sys.executable, "-m", "services.cli.main", "ingest", str(data), "--json", str(tmp_path / "s.json")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "published 1 offers" in done.stderr and "2 rejected" in done.stderr
    assert "row 2 (line 4): designation: must not contain NUL bytes" in done.stderr
    assert "row 3 (line 5): productid: blank" in done.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["published"], summary["rejected"]) == (1, 2)
    assert summary["rejects_file"] == str(data / "rejects" / "X_train_update.csv")
