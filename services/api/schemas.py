"""Request and response bodies of the HTTP API (they are its OpenAPI documentation)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_OFFERS_PER_REQUEST = 1000
IMAGE_SCHEMES = ("file://", "http://", "https://")


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

    listing_id: str = Field(..., min_length=1, max_length=128, description="The marketplace's product id.")
    title: str = Field("", max_length=1000, description="Title (designation).")
    description: str | None = Field(None, max_length=100_000, description="Optional HTML description.")
    image_uri: str | None = Field(
        None, max_length=2048, description="file:// path under an allowed root, or http(s) URL."
    )

    @field_validator("listing_id")
    @classmethod
    def _no_blank_id(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("listing_id must not be blank")
        return value.strip()

    @field_validator("image_uri")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(IMAGE_SCHEMES):
            raise ValueError(f"image_uri must start with one of {', '.join(IMAGE_SCHEMES)}")
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

    title: str = Field("", max_length=1000)
    description: str | None = Field(None, max_length=100_000)
    image_base64: str | None = Field(None, description="The photo (JPEG/PNG/WebP), base64-encoded.")


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

    category: int | None = Field(None, description="Only listings currently in this category.")
    since: datetime | None = Field(None, description="Only listings created or updated since then.")
    model_version: str | None = Field(None, description="Only listings last classified by this version.")
    max_in_flight: int = Field(1000, ge=1, le=1_000_000, description="Bound on offers queued at once.")
    page_size: int = Field(500, ge=1, le=10_000, description="Listings read and published per page.")


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

    prdtypecode: int = Field(..., description="The right product type code.")
    reviewer: str = Field(..., min_length=1, max_length=128, description="Who reviewed it.")
    note: str | None = Field(None, max_length=2000, description="Optional comment.")
    submission_id: UUID | None = Field(
        None, description="The prediction reviewed (default: the listing's current one)."
    )

    @field_validator("reviewer")
    @classmethod
    def _reviewer_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("reviewer must not be blank")
        return value.strip()
