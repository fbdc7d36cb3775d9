"""`catalog export-labels` writes labelled listings in the challenge layout that ingestion reads back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from services.api.ingest import LayoutError, read_offers
from shared.contract import ListingSubmitted
from shared.db.listings import upsert_listings
from shared.db.session import session_scope, upgrade
from tests.integration.lifecycle.helpers import label_listings
from training.data import load_catalog


def test_export_labels_round_trips_through_the_challenge_layout(tmp_path: Path, sqlite_url: str) -> None:
    upgrade(sqlite_url)
    photo = tmp_path / "images" / "image_1234_product_L001.jpg"
    photo.parent.mkdir(parents=True)
    Image.new("RGB", (16, 16), "blue").save(photo)
    label_listings(
        sqlite_url, {"L000": 40, "L001": 10, "shop/7": 10}, {"r1": {"L000": 10, "L001": 10, "shop/7": 10}}
    )
    with session_scope(sqlite_url) as session:  # L001 has a photo; an unlabelled listing is left out
        upsert_listings(
            session,
            [
                ListingSubmitted.new("L001", title="Tome 1", image_uri=photo.as_uri()),
                # an id that cannot be part of a file name: exported without its photo
                ListingSubmitted.new("shop/7", title="Tome 7", image_uri=photo.as_uri()),
                ListingSubmitted.new("L999", title="never reviewed"),
            ],
        )
    out = tmp_path / "export"
    env = {**os.environ, "CATALOG_DATABASE_URL": sqlite_url}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "export-labels", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["listings"], summary["images"], summary["images_skipped_unsafe_id"]) == (3, 1, 1)
    # "shop/7" predates the one listing-id grammar: training reads it, `catalog ingest` rejects its row
    with pytest.raises(LayoutError, match=r"line 4\): productid: listing_id must be .*'shop/7'"):
        read_offers(out)
    offers = read_offers(out, limit=2)
    assert [(o.event.listing_id, o.event.title, o.label) for o in offers] == [
        ("L000", "offer L000", 40),
        ("L001", "Tome 1", 10),
    ]
    catalog = load_catalog(out, require_labels=True)  # what `catalog train --data` reads
    assert catalog.labels == [40, 10, 10] and catalog.product_ids == ["L000", "L001", "shop/7"]
    assert [p is not None for p in catalog.image_paths] == [False, True, False]
    assert (out / "images" / "image_train" / "image_1234_product_L001.jpg").is_file()
    assert offers[1].event.image_uri is not None and offers[1].event.image_uri.endswith(
        "image_1234_product_L001.jpg"
    )
