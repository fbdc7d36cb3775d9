"""Request and response bodies of the HTTP API (they are its OpenAPI documentation)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from shared.contract import MAX_PRDTYPECODE, StorableStr, image_uri_problem

MAX_OFFERS_PER_REQUEST = 1000
MAX_IMAGE_BASE64_CHARS = 14_000_000
"""About 10 MiB of image once decoded (``CATALOG_IMAGE_MAX_BYTES`` is checked after decoding)."""
MAX_OFFSET = 10_000_000
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$")
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _iso_string(value: Any) -> Any:
    """Only ISO 8601 date-times (as documented): not Unix timestamps such as ``0.5``."""
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("must be an ISO 8601 date-time such as 2026-11-25T10:00:00Z")
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("must be an ISO 8601 date-time, not a number")
    return value


def _in_range(value: datetime) -> datetime:
    """An aware UTC time between 1970 and 9999 (outside, time zone arithmetic overflows)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        utc = aware.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("is out of range once converted to UTC") from exc
    if not EARLIEST <= utc < LATEST:
        raise ValueError("must be between 1970-01-01 and 9999-01-01 (UTC)")
    return utc


ApiDatetime = Annotated[datetime, BeforeValidator(_iso_string), AfterValidator(_in_range)]
"""A date-time parameter: ISO 8601 only, 1970 to 9999 UTC (a clear 422 otherwise)."""


class OfferIn(BaseModel):
    """One offer as a seller publishes it; at least a title, a description or an image."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "listing_id": "3804725264",
                    "title": "Lego Star Wars 75192 Millennium Falcon",
                    "description": "<p>Boîte neuve, jamais ouverte.</p>",
                    "image_uri": "https://images.example.com/3804725264.jpg",
                }
            ]
        },
    )

    listing_id: StorableStr = Field(
        ...,
        min_length=1,
        max_length=128,
        pattern=r"\S",
        description="The marketplace's product id (not blank; no NUL byte).",
    )
    title: StorableStr = Field("", max_length=1000, description="Title (designation).")
    description: StorableStr | None = Field(
        None, max_length=100_000, description="Optional HTML description."
    )
    image_uri: StorableStr | None = Field(
        None,
        max_length=2048,
        description="file:// absolute path (under an allowed root), or http(s) URL with a host: "
        "a URI that does not parse is refused here rather than failing in the image encoder.",
    )

    @field_validator("listing_id")
    @classmethod
    def _no_blank_id(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("listing_id must not be blank")
        return value.strip()

    @field_validator("image_uri")
    @classmethod
    def _valid_uri(cls, value: str | None) -> str | None:
        problem = image_uri_problem(value) if value else None
        if problem:
            raise ValueError(f"image_uri {problem}")
        return value or None

    @model_validator(mode="after")
    def _has_content(self) -> OfferIn:
        if not (self.title.strip() or (self.description or "").strip() or self.image_uri):
            raise ValueError("an offer needs a title, a description or an image_uri")
        return self


class OffersIn(BaseModel):
    """Several offers in one request (published in one Redis round trip)."""

    model_config = ConfigDict(extra="forbid")

    offers: list[OfferIn] = Field(..., min_length=1, max_length=MAX_OFFERS_PER_REQUEST)


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
        json_schema_extra={"examples": [{"title": "Console PS4 Pro 1To noire"}]},
    )

    title: StorableStr = Field("", max_length=1000)
    description: StorableStr | None = Field(None, max_length=100_000)
    image_base64: str | None = Field(
        None,
        max_length=MAX_IMAGE_BASE64_CHARS,
        description="The photo (JPEG/PNG/WebP), base64-encoded.",
    )


class CategoryOut(BaseModel):
    prdtypecode: int
    label: str
    probability: float


class ClassifyOut(BaseModel):
    top_k: list[CategoryOut] = Field(..., description="The best categories, most likely first (3).")
    modalities: list[str] = Field(default_factory=list, description="Inputs the prediction used.")
    model_version: str | None = None
    elapsed_ms: float


class JobIn(BaseModel):
    """A bulk reclassification of stored listings (all filters optional)."""

    model_config = ConfigDict(extra="forbid")

    category: int | None = Field(
        None, ge=0, le=MAX_PRDTYPECODE, description="Only listings currently in this category."
    )
    since: ApiDatetime | None = Field(None, description="Only listings created or updated since then.")
    model_version: StorableStr | None = Field(
        None, max_length=64, description="Only listings last classified by this version."
    )
    max_in_flight: int = Field(1000, ge=1, le=1_000_000, description="Bound on offers queued at once.")
    page_size: int = Field(500, ge=1, le=10_000, description="Listings read and published per page.")
    start: bool = Field(
        True, description="Run it in the API process now (else: `catalog reclassify --resume`)."
    )


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


class ErrorOut(BaseModel):
    """Every error response."""

    error: str = Field(..., description="Short machine-readable code, e.g. not_found.")
    message: str = Field(..., description="What went wrong and what to do.")
    details: list[Any] | None = Field(None, description="Validation errors, when any.")
