"""A classified event the SQL columns cannot hold is a contract violation (issue 24 H): refused
when it is decoded, so it is dead-lettered at the first delivery (``invalid_payload``) instead
of failing the insert on every delivery (a 5 MB category label did, 5 times)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sqlalchemy import String

from shared.contract import CategoryScore, ListingClassified
from shared.db.models import Category, Listing, Prediction
from tests.support.factories import classified_event

# contract field -> the SQL column the writer stores it in
STORED_IN = {
    (ListingClassified, "listing_id"): Prediction.listing_id,
    (ListingClassified, "label"): Category.label,
    (CategoryScore, "label"): Category.label,
    (ListingClassified, "model_version"): Prediction.model_version,
    (ListingClassified, "language"): Prediction.language,
    (ListingClassified, "translation_status"): Prediction.translation_status,
    (ListingClassified, "image_missing_reason"): Prediction.image_missing_reason,
    (ListingClassified, "degraded"): Prediction.degraded,
}


def _max_length(model: type, field: str) -> int | None:
    for item in model.model_fields[field].metadata:  # type: ignore[attr-defined]
        if hasattr(item, "max_length"):
            return int(item.max_length)
    return None


@pytest.mark.parametrize(("key", "column"), list(STORED_IN.items()), ids=lambda v: str(v))
def test_every_stored_string_is_bounded_by_its_column(key: tuple[type, str], column: object) -> None:
    model, field = key
    sql_type = column.type  # type: ignore[attr-defined]
    assert isinstance(sql_type, String) and sql_type.length
    limit = _max_length(model, field)
    assert limit is not None and limit <= sql_type.length, (model.__name__, field, limit, sql_type.length)
    assert Listing.current_model_version.type.length >= _max_length(ListingClassified, "model_version")  # type: ignore[attr-defined,operator]


def test_modalities_fit_their_column() -> None:
    assert len(",".join(["text", "image"])) <= Prediction.modalities.type.length  # type: ignore[attr-defined]
    payload = classified_event("a", 10).model_dump(mode="json")
    with pytest.raises(ValidationError):
        ListingClassified.model_validate({**payload, "modalities": ["text"] * 10})


@pytest.mark.parametrize("field", ["label", "model_version", "language", "image_missing_reason"])
def test_an_oversized_field_is_refused_at_decoding(field: str) -> None:
    payload = classified_event("a", 10).model_dump(mode="json")
    with pytest.raises(ValidationError, match="at most"):
        ListingClassified.model_validate_json(json.dumps({**payload, field: "x" * 5_000_000}))
