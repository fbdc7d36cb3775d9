"""The OpenAPI document and the validation agree: every pattern the document states is the one
the API checks, tested on the inputs where Python's and JSON Schema's regexes used to differ."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from services.api.schemas import JobIn, LabelIn, OfferIn
from shared.contract import CONTENT_PATTERN, LISTING_ID_PATTERN, has_content, listing_id_problem

ECMA_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
ECMA_SPACE += "\u2028\u2029\u202f\u205f\u3000\ufeff"


@pytest.mark.parametrize(
    ("value", "valid"),
    [("3804725264", True), ("shop:42", True), ("A-1.b_c", True), ("x" * 128, True),
     ("shop/42", False), ("x/explanation", False), ("a b", False), ("..", False), (".x", False),
     ("a%2Fb", False), ("\u001d", False), ("é", False), ("x" * 129, False), ("", False), ("abc\n", False)],
)  # fmt: skip
def test_one_listing_id_grammar(value: str, valid: bool) -> None:
    assert (listing_id_problem(value) is None) is valid
    assert (re.fullmatch(LISTING_ID_PATTERN, value) is not None) is valid
    body = {"listing_id": value, "title": "Lego"}
    if valid:
        assert OfferIn.model_validate(body).listing_id == value
    else:
        with pytest.raises(ValidationError, match="letters, digits"):
            OfferIn.model_validate(body)


@pytest.mark.parametrize("blank", ["\u001d", "\u001c\u001f", " \t", "\u00a0", "\u200b", "\ufeff", "\u3000"])
def test_blank_is_blank_for_the_document_and_the_validation(blank: str) -> None:
    """U+001D is a space to Python's str.strip, not to JSON Schema's \\S: both now use one
    explicit class, so a reviewer or title the document allows is one the API accepts."""
    assert re.search(CONTENT_PATTERN, blank) is None and not has_content(blank)
    with pytest.raises(ValidationError, match="visible"):
        LabelIn.model_validate({"prdtypecode": 10, "reviewer": blank})
    with pytest.raises(ValidationError, match="needs a title"):
        OfferIn.model_validate({"listing_id": "a1", "title": blank})


def test_the_content_class_holds_every_ecma_space() -> None:
    assert all(re.search(CONTENT_PATTERN, ch) is None for ch in ECMA_SPACE)


def _properties(model: Any) -> dict[str, Any]:
    return model.model_json_schema()["properties"]  # type: ignore[no-any-return]


def test_the_document_states_what_validation_refuses() -> None:
    offer, job, label = _properties(OfferIn), _properties(JobIn), _properties(LabelIn)
    category = job["category"]["anyOf"][0]
    assert (category["minimum"], category["maximum"]) == (0, 2**31 - 1) and "ge" not in category
    for text in (offer["title"], offer["description"]["anyOf"][0], label["note"]["anyOf"][0]):
        assert re.search(text["pattern"], "a\x00b") is None and re.search(text["pattern"], "ab")
    with pytest.raises(ValidationError, match="NUL"):
        OfferIn.model_validate({"listing_id": "a1", "title": "x\x00y"})
    assert re.search(label["reviewer"]["pattern"], "\u001d") is None
    assert offer["listing_id"]["pattern"] == LISTING_ID_PATTERN
    uri = offer["image_uri"]["anyOf"][0]["pattern"]
    assert re.search(uri, "") is None
    with pytest.raises(ValidationError, match="image_uri must not be empty"):
        OfferIn.model_validate({"listing_id": "a1", "title": "x", "image_uri": ""})


@pytest.mark.parametrize("year", [1970, 2026, 9989, 9990, 9998])
def test_every_year_the_message_allows_is_accepted(year: int) -> None:
    assert JobIn.model_validate({"since": f"{year}-06-01T00:00:00Z"}).since is not None


@pytest.mark.parametrize("value", ["1969-12-31T23:00:00Z", "9999-01-01T00:00:00Z", "2026-01-01T00:00:00Z\n"])
def test_years_outside_the_message_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="years 1970 to 9998"):
        JobIn.model_validate({"since": value})
