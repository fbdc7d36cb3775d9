"""The shadow sample: the configured share of live offers, the same decision in every encoder."""

from __future__ import annotations

import random
import uuid

import pytest

from shared.contract import ListingSubmitted, Origin
from shared.inference.shadow import sampled_rows
from shared.lifecycle.state import in_shadow_sample


@pytest.mark.parametrize("share", [0.05, 0.1, 0.25, 0.5])
def test_the_sample_is_the_configured_share_and_grows_with_it(share: float) -> None:
    rng = random.Random(7)
    ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(20_000)]
    chosen = {i for i in ids if in_shadow_sample(i, share)}
    assert abs(len(chosen) / len(ids) - share) < 0.015
    assert chosen <= {i for i in ids if in_shadow_sample(i, min(1.0, 2 * share))}  # nested samples
    assert chosen == {i for i in ids if in_shadow_sample(i, share)}  # deterministic
    assert not any(in_shadow_sample(i, 0.0) for i in ids[:100])
    assert all(in_shadow_sample(i, 1.0) for i in ids[:100])


def test_only_live_offers_with_usable_input_are_sampled() -> None:
    offers = [
        ListingSubmitted.new("a", title="x"),
        ListingSubmitted.new("b", title="y", origin=Origin(kind="reclassify")),  # not live traffic
        ListingSubmitted.new("c", title="z"),
    ]
    assert sampled_rows(offers, [True, True, False], share=1.0) == [0]  # c: no usable input
