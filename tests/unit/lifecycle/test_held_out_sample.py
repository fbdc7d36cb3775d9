"""The promotion gate's re-scoring sample (training/held_out.py ``sample_rows``)."""

from __future__ import annotations

from training.held_out import sample_rows


def test_the_sample_is_fixed_by_the_row_ids_and_keeps_their_order() -> None:
    rows = [str(i) for i in range(1000)]
    sample = sample_rows(rows, 100)
    assert len(sample) == 100 == len(set(sample))
    assert sample == [row for row in rows if row in set(sample)]  # original order
    assert sample_rows(rows, 100) == sample  # same rows every run
    assert sorted(sample_rows(list(reversed(rows)), 100)) == sorted(sample)  # whatever the order given
    assert set(sample_rows(rows, 200)) > set(sample)  # a larger cap keeps the smaller sample's rows


def test_no_cap_or_a_small_split_keeps_every_row() -> None:
    rows = ["a", "b", "c"]
    assert sample_rows(rows, None) == rows
    assert sample_rows(rows, 3) == rows
