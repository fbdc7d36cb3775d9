"""Pure pieces of the API area: challenge-layout reading, F1, input validation, adapters."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from services.api.ingest import LayoutError, Offer, read_offers, weighted_f1
from services.api.routes_listings import _category
from services.api.schemas import OfferIn, OffersIn
from shared.contract import ListingSubmitted


def write_layout(root: Path) -> Path:
    (root / "images" / "image_train").mkdir(parents=True)
    (root / "images" / "image_train" / "image_11_product_101.jpg").write_bytes(b"jpeg")
    (root / "X_train_update.csv").write_text(
        ",designation,description,productid,imageid\n"
        '0,"Lego ""Star, Wars""","<p>Neuf\nmulti-ligne</p>",101,11\n'
        "1,Roman policier,,102.0,12\n"
        "2,,,,13\n",
        encoding="utf-8",
    )
    (root / "Y_train_CVw08PX.csv").write_text(",prdtypecode\n0,1280\n1,10\n2,40\n", encoding="utf-8")
    return root


def test_read_offers_keeps_raw_text_labels_and_image_paths(tmp_path: Path) -> None:
    offers = read_offers(write_layout(tmp_path), limit=2)
    assert [o.event.listing_id for o in offers] == ["101", "102"]
    first, second = offers
    assert first.event.title == 'Lego "Star, Wars"' and first.event.description == "<p>Neuf\nmulti-ligne</p>"
    assert (
        first.event.image_uri == (tmp_path / "images/image_train/image_11_product_101.jpg").resolve().as_uri()
    )
    assert second.event.description is None
    assert second.event.image_uri and second.event.image_uri.endswith(
        "image_12_product_102.jpg"
    )  # missing file
    assert [o.label for o in offers] == [1280, 10]
    assert len(read_offers(tmp_path, limit=1)) == 1


def test_read_offers_names_a_row_without_product_id_instead_of_skipping_it(tmp_path: Path) -> None:
    """A blank productid was once skipped without a word ("published 2 offers" from 3 rows)."""
    with pytest.raises(LayoutError, match=r"row 3 \(line 5\): productid: blank"):
        read_offers(write_layout(tmp_path))


def test_read_offers_explains_a_wrong_directory(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="challenge layout"):
        read_offers(tmp_path)


def test_weighted_f1_scores_only_classified_labelled_offers() -> None:
    offers = [
        Offer(ListingSubmitted.new(str(i), title="t"), label) for i, label in enumerate([10, 10, 40, 40])
    ]
    predicted = {o.event.submission_id: code for o, code in zip(offers[:3], [10, 40, 40], strict=True)}
    # on the 3 classified offers: class 10 has P=1 R=0.5, class 40 has P=0.5 R=1 -> F1 2/3 each
    assert weighted_f1(offers, predicted) == pytest.approx(2 / 3)
    unlabelled = [Offer(o.event, None) for o in offers]
    assert weighted_f1(unlabelled, predicted) is None


@pytest.mark.parametrize(
    "body",
    [
        {"listing_id": " ", "title": "x"},
        {"listing_id": "1"},
        {"listing_id": "1", "title": "x", "image_uri": "data:image/png;base64,AAA"},
        {"listing_id": "1", "title": "x" * 1001},
    ],
)
def test_offer_validation_rejects(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        OfferIn.model_validate(body)


def test_offers_batch_is_bounded() -> None:
    OffersIn.model_validate({"offers": [{"listing_id": "1", "title": "x"}] * 1000})
    with pytest.raises(ValidationError):
        OffersIn.model_validate({"offers": [{"listing_id": "1", "title": "x"}] * 1001})


def test_category_adapter_accepts_models_dicts_and_tuples() -> None:
    expected = {"prdtypecode": 10, "label": "Livres", "probability": 0.5}
    assert _category(SimpleNamespace(prdtypecode=10, label="Livres", probability=0.5)) == expected
    assert _category({"prdtypecode": 10, "label": "Livres", "probability": 0.5}) == expected
    assert _category((10, 0.5, "Livres")) == expected
    assert _category((10, 0.5))["label"]  # the reference label when none is given


def test_read_offers_refuses_a_product_id_the_api_would_refuse(tmp_path: Path) -> None:
    """``read_offers`` and the API share one listing-id grammar: an id with a '/' (unreadable
    at /v1/listings/{id}) stops the read, naming the row and line (``catalog ingest`` rejects
    the row instead: tests/integration/api/test_streaming_ingest.py)."""
    layout = write_layout(tmp_path)
    x_file = layout / "X_train_update.csv"
    x_file.write_text(x_file.read_text("utf-8").replace("102.0", "shop/102"), encoding="utf-8")
    refused = r"row 2 \(line 4\): productid: listing_id must be 1 to 128 letters.*'shop/102'"
    with pytest.raises(LayoutError, match=refused):
        read_offers(layout)


def test_the_expensive_read_budget_refills_at_its_rate() -> None:
    from services.api.throttle import Throttle, TtlCache

    now = [0.0]
    throttle = Throttle(2, clock=lambda: now[0])  # 2 a minute, 2 at once
    assert [throttle.wait_s() for _ in range(3)][:2] == [0.0, 0.0]
    now[0] = 10.0
    assert throttle.wait_s() == pytest.approx(20.0)  # one token every 30 s: 20 s left
    now[0] = 30.0
    assert throttle.wait_s() == 0.0
    cache = TtlCache(60, max_items=2, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)  # full: the oldest goes
    assert (cache.get("a"), cache.get("c")) == (None, 3)
    now[0] = 91.0
    assert cache.get("c") is None
