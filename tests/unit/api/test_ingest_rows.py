"""The streamed row reader and the ingest benchmark's own checks (files only, no Redis or SQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.api.ingest_rows import FIELD_LIMIT, RowReader, find_source
from services.api.ingest_run import DryRunSink, IngestOptions, ingest_file, row_submission_id
from services.bench.ingest import check_rejects, expected_bad, generate


def test_a_record_the_csv_module_cannot_read_is_one_rejected_row_and_reading_goes_on(tmp_path: Path) -> None:
    huge = "x" * (FIELD_LIMIT + 1)
    (tmp_path / "X_train_update.csv").write_text(
        f",designation,description,productid,imageid\n0,{huge},,1,1\n1,Too,many,2,2,fields\n2,Fine,,3,3\n",
        encoding="utf-8",
    )
    with RowReader(find_source(tmp_path)) as reader:
        rows = list(reader)
    assert [(r.number, r.line) for r in rows] == [(1, 2), (2, 3), (3, 4)]
    assert rows[0].reason and "unreadable CSV record" in rows[0].reason
    assert rows[1].reason == "expected 5 fields, found 6"
    assert rows[2].offer is not None and rows[2].offer.listing_id == "3"


def test_submission_ids_depend_on_the_file_and_the_row_only() -> None:
    assert row_submission_id("abc", 7) == row_submission_id("abc", 7)
    assert len({row_submission_id("abc", 7), row_submission_id("abc", 8), row_submission_id("abd", 7)}) == 3


def test_the_benchmark_file_has_its_bad_rows_where_it_says_and_ingest_names_each(tmp_path: Path) -> None:
    made = generate(tmp_path, n=700, bad_every=100)
    assert made["bad_rows"] == 7 == len(list(expected_bad(700, 100)))
    sink = DryRunSink()
    summary = asyncio.run(ingest_file(find_source(tmp_path), sink, IngestOptions(chunk=64)))
    assert (summary.rows, summary.published, summary.rejected) == (700, 693, 7) and sink.published == 693
    checked = check_rejects(Path(str(summary.rejects_file)), 700, 100)
    assert checked["every_bad_row_named"] is True and checked["named_in_rejects_file"] == 7
    assert not check_rejects(None, 700, 100)["every_bad_row_named"]  # the check can fail
