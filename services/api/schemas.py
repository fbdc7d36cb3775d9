"""Request and response bodies of the HTTP API (they are its OpenAPI documentation)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from shared.contract import (
    BLANK_CHARS,
    CONTENT_PATTERN,
    LISTING_ID_PATTERN,
    MAX_PRDTYPECODE,
    StorableStr,
    has_content,
    image_uri_problem,
    storable_text,
    valid_listing_id,
)

MAX_OFFERS_PER_REQUEST = 1000
MAX_IMAGE_BASE64_CHARS = 14_000_000
"""About 10 MiB of image once decoded (``CATALOG_IMAGE_MAX_BYTES`` is checked after decoding)."""
MAX_OFFSET = 10_000_000
BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
_YEAR = r"(?:19[7-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
DATETIME_PATTERN = (
    _YEAR + r"-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_RFC3339 = re.compile("^" + DATETIME_PATTERN)
EARLIEST_YEAR, LATEST_YEAR = 1970, 9998


def _iso_string(value: Any) -> Any:
    """Only RFC 3339 date-times with an offset, years 1970-9998 (as documented): not Unix
    timestamps such as ``0.5``, nor years whose time zone arithmetic overflows."""
    if isinstance(value, str) and not _RFC3339.fullmatch(value):
        raise ValueError(
            "must be an RFC 3339 date-time with its offset, years 1970 to 9998, e.g. 2026-11-25T10:00:00Z"
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("must be an ISO 8601 date-time, not a number")
    return value


def _in_range(value: datetime) -> datetime:
    """The time in UTC; its year (as written) within 1970-9998, so conversion cannot overflow."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"year must be between {EARLIEST_YEAR} and {LATEST_YEAR}")
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC)


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
IMAGE_URI_PATTERN = (
    r"^(?:file://(?:localhost)?/(?:[!-$&-~]|%(?:0[1-9A-Fa-f]|[1-9A-Fa-f][0-9A-Fa-f]))*"
    rf"|https?://{_LABEL}(?:\.{_LABEL})*(?::(?:[1-9][0-9]{{0,3}}|[1-5][0-9]{{4}}))?(?:/[!-~]*)?)$"
)
"""What the API accepts as an image location, as the OpenAPI document states it: a file:// URI
with an absolute path (printable ASCII, percent-escapes but ``%00``), or an http(s) URL with a
host name and an optional port. Every such URI also parses in the image encoder."""


ImageUri = Annotated[
    str,
    StringConstraints(max_length=2048),
    AfterValidator(storable_text),
    # The pattern is checked by OfferIn._valid_uri (with a readable message), stated here.
    WithJsonSchema({"type": "string", "maxLength": 2048, "pattern": IMAGE_URI_PATTERN}),
]
Base64Str = Annotated[str, StringConstraints(max_length=MAX_IMAGE_BASE64_CHARS, pattern=BASE64_PATTERN)]

NO_NUL_PATTERN = r"^[^\x00]*$"
Text = Annotated[StorableStr, Field(json_schema_extra={"pattern": NO_NUL_PATTERN})]
"""Free text: any Unicode but NUL (refused by ``storable_text``), as the document states it."""
NAME_PATTERN = rf"^[^\x00]*[^{BLANK_CHARS}][^\x00]*$"
"""A name (a reviewer): some visible character, no NUL (the same test in Python and JSON Schema)."""
ListingId = Annotated[
    str,
    AfterValidator(valid_listing_id),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 128, "pattern": LISTING_ID_PATTERN}),
]
"""A listing id in a body: the one grammar of ``shared.contract.LISTING_ID_PATTERN``."""
ListingIdPath = Annotated[
    str,
    Path(
        description="The listing id (its grammar: see OfferIn.listing_id).",
        examples=["3804725264"],  # OfferIn's example: contract tests submit it first
        json_schema_extra={"minLength": 1, "maxLength": 128, "pattern": LISTING_ID_PATTERN},
    ),
    AfterValidator(valid_listing_id),
]
"""A listing id in a route: one path segment, refused (422) when it cannot be a listing id."""


def _json_int(value: Any) -> Any:
    """An integer as JSON has it (``3`` or ``3.0``), not a string or a boolean."""
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_int)]
CategoryCode = Annotated[int, Field(ge=0, le=MAX_PRDTYPECODE), BeforeValidator(_json_int)]
"""A product type code; the bounds come before the validator, so an optional one's document
states them as JSON Schema ``minimum``/``maximum`` (after it, pydantic leaks ``ge``/``le``)."""


_IMAGE_URI = re.compile(IMAGE_URI_PATTERN)


def _content_required(*fields: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """JSON Schema for "at least one of these fields with content" (stated in the document)."""
    return {
        "anyOf": [
            {"required": [name], "properties": {name: {"type": "string", **rule}}} for name, rule in fields
        ]
    }


ApiDatetime = Annotated[
    datetime,
    BeforeValidator(_iso_string),
    AfterValidator(_in_range),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": "^" + DATETIME_PATTERN}),
]
"""A date-time parameter: RFC 3339 with offset, years 1970-9998 (a clear 422 otherwise)."""


class OfferIn(BaseModel):
    """One offer as a seller publishes it; at least a title, a description or an image."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            **_content_required(
                ("title", {"pattern": CONTENT_PATTERN}),
                ("description", {"pattern": CONTENT_PATTERN}),
                ("image_uri", {"minLength": 1, "pattern": IMAGE_URI_PATTERN}),
            ),
            "examples": [
                {
                    "listing_id": "3804725264",
                    "title": "Lego Star Wars 75192 Millennium Falcon",
                    "description": "<p>Boîte neuve, jamais ouverte.</p>",
                    "image_uri": "https://images.example.com/3804725264.jpg",
                }
            ],
        },
    )

    listing_id: ListingId = Field(
        ...,
        description="The marketplace's product id: 1-128 letters, digits, '.', '_', ':' or '-', "
        "starting with a letter or a digit (one URL path segment).",
    )
    title: Text = Field("", max_length=1000, description="Title (designation).")
    description: Text | None = Field(None, max_length=100_000, description="Optional HTML description.")
    image_uri: ImageUri | None = Field(
        None,
        description="file:// absolute path (under an allowed root), or http(s) URL with a host: "
        "a URI that does not parse is refused here rather than failing in the image encoder.",
    )

    @field_validator("image_uri")
    @classmethod
    def _valid_uri(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value:
            raise ValueError(
                "image_uri must not be empty: omit it (or send null) for an offer without a photo"
            )
        problem = image_uri_problem(value)
        if problem:
            raise ValueError(f"image_uri {problem}")
        if not _IMAGE_URI.fullmatch(value):
            raise ValueError(
                "image_uri must look like file:///absolute/path or http(s)://host[:port]/path "
                "(printable ASCII; see the pattern in the OpenAPI document)"
            )
        return value

    @model_validator(mode="after")
    def _has_content(self) -> OfferIn:
        if not (has_content(self.title) or has_content(self.description) or self.image_uri):
            raise ValueError("an offer needs a title, a description or an image_uri")
        return self


class OffersIn(BaseModel):
    """Several offers in one request (published in one Redis round trip)."""

    model_config = ConfigDict(extra="forbid")

    offers: list[OfferIn] = Field(..., min_length=1, max_length=MAX_OFFERS_PER_REQUEST)


def _offer_shape(value: Any) -> str:
    return "many" if isinstance(value, dict) and "offers" in value else "one"


OffersBody = Annotated[
    Annotated[OfferIn, Tag("one")] | Annotated[OffersIn, Tag("many")], Discriminator(_offer_shape)
]
"""One offer, or several under ``offers``: the shape picks the model, so a bad body gets the
errors of the model it meant, not those of both (tags in ``errors.UNION_TAGS``)."""


class SubmissionOut(BaseModel):
    listing_id: str
    submission_id: UUID


class SubmittedOut(BaseModel):
    """202: the offers are queued; poll ``GET /v1/listings/{listing_id}`` for the category."""

    accepted: int
    submissions: list[SubmissionOut]


class ClassifyIn(BaseModel):
    """Any subset of the three inputs (a title alone serves a search box, a photo alone
    a "find by picture" feature)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            **_content_required(
                ("title", {"pattern": CONTENT_PATTERN}),
                ("description", {"pattern": CONTENT_PATTERN}),
                ("image_base64", {"minLength": 4, "pattern": BASE64_PATTERN}),
            ),
            "examples": [{"title": "Console PS4 Pro 1To noire"}],
        },
    )

    title: Text = Field("", max_length=1000)
    description: Text | None = Field(None, max_length=100_000)
    image_base64: Base64Str | None = Field(
        None,
        description="The photo (JPEG/PNG/WebP), base64-encoded.",
    )


class CategoryOut(BaseModel):
    prdtypecode: int
    label: str = Field(..., description="The model's name for the code (its manifest).")
    probability: float
    name: str | None = Field(None, description="The current taxonomy's name for the code.")
    path: str | None = Field(None, description='Its place in the tree, e.g. "Maison > Décoration".')


class ClassifyOut(BaseModel):
    top_k: list[CategoryOut] = Field(..., description="The best categories, most likely first (3).")
    modalities: list[str] = Field(default_factory=list, description="Inputs the prediction used.")
    model_version: str | None = None
    decision: Literal["auto", "review"] | None = Field(
        None,
        description="`auto`: confident enough to accept without a person, by the model's "
        "thresholds for CATALOG_AUTO_ACCEPT_PRECISION; `review`: a person should look; null: "
        "the model has no thresholds.",
    )
    elapsed_ms: float
    image_unused_reason: str | None = Field(
        None,
        description="A photo was sent but not used (corrupt, too_large...): the answer is the text's.",
    )


class JobIn(BaseModel):
    """A bulk reclassification of stored listings (all filters optional)."""

    model_config = ConfigDict(extra="forbid")

    category: CategoryCode | None = Field(
        None, description="Only listings currently in this category (one of GET /v1/categories)."
    )
    since: ApiDatetime | None = Field(None, description="Only listings created or updated since then.")
    model_version: Text | None = Field(
        None, max_length=64, description="Only listings last classified by this version."
    )
    max_in_flight: JsonInt = Field(1000, ge=1, le=1_000_000, description="Bound on offers queued at once.")
    page_size: JsonInt = Field(500, ge=1, le=10_000, description="Listings read and published per page.")


class JobOut(BaseModel):
    job_id: UUID
    status: Literal["pending", "running", "completed", "cancelled", "failed"]
    filter: dict[str, Any]
    max_in_flight: int
    total: int
    published: int
    completed: int
    in_flight: int
    progress: float
    cursor: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    page_size: int | None = None
    runner: str | None = Field(None, description="The process running it (a reclassify worker, or the CLI).")
    heartbeat_at: datetime | None = Field(None, description="Its runner's last heartbeat (its lease).")


class ErrorOut(BaseModel):
    """Every error response."""

    error: str = Field(..., description="Short machine-readable code, e.g. not_found.")
    message: str = Field(..., description="What went wrong and what to do.")
    details: list[Any] | None = Field(None, description="Validation errors, when any.")


class LabelIn(BaseModel):
    """A reviewer's category for a listing: accepts its prediction or corrects it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"prdtypecode": 1280, "reviewer": "alice", "note": "toy, not a game"}]
        },
    )

    prdtypecode: JsonInt = Field(..., ge=0, le=MAX_PRDTYPECODE, description="The right product type code.")
    reviewer: StorableStr = Field(
        ...,
        min_length=1,
        max_length=128,
        description="Who reviewed it (some visible character).",
        json_schema_extra={"pattern": NAME_PATTERN},
    )
    note: Text | None = Field(None, max_length=2000, description="Optional comment.")
    submission_id: UUID | None = Field(
        None, description="The prediction reviewed (default: the listing's current one)."
    )

    @field_validator("reviewer")
    @classmethod
    def _reviewer_not_blank(cls, value: str) -> str:
        if not has_content(value):
            raise ValueError("reviewer must have a visible character")
        return value.strip()
