"""The stream contract: every stream and every event that crosses Redis (docs/architecture.md §2).

Each event carries ``submission_id`` (set once by the publisher), ``listing_id``, ``origin`` and
the timestamps of every stage it went through, so that latency can be broken down per stage.
Workers copy the envelope forward with :meth:`Envelope.forward` and add their own stage.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from urllib.parse import unquote, urlsplit
from uuid import UUID, uuid4

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

SCHEMA_VERSION: Literal[1] = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)
MAX_PRDTYPECODE = 2**31 - 1
"""Product type codes are stored as 32-bit integers."""
# Lengths of the SQL columns the writer stores these fields in (shared/db/models.py): a longer
# value is a contract violation, dead-lettered at the first delivery instead of failing the
# insert on every delivery.
MAX_LABEL_CHARS = 200
MAX_VERSION_CHARS = 64
MAX_SHORT_CHARS = 16
MAX_REASON_CHARS = 32


def storable_text(value: str) -> str:
    """``value`` if SQL and Redis can store it: no NUL byte, no lone surrogate (not UTF-8)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL bytes")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode (no lone surrogates)") from exc
    return value


StorableStr = Annotated[str, AfterValidator(storable_text)]


LISTING_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
"""The one listing-id grammar (API bodies and paths, ``catalog ingest``): 1-128 characters that
stay one URL path segment as they are (no ``/``, ``%``, space or dot segment), so every
accepted id can be read back at ``/v1/listings/{listing_id}``."""
_LISTING_ID = re.compile(LISTING_ID_PATTERN)
LISTING_ID_RULE = (
    "1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or a digit "
    "(it must fit in one URL path segment)"
)


def listing_id_problem(value: object) -> str | None:
    """Why ``value`` is not a listing id (None when it is one)."""
    if not isinstance(value, str) or not _LISTING_ID.fullmatch(value):
        return f"listing_id must be {LISTING_ID_RULE}, got {str(value)[:60]!r}"
    return None


def valid_listing_id(value: str) -> str:
    """``value`` if it is a listing id (a pydantic/FastAPI validator: ValueError otherwise)."""
    problem = listing_id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


BLANK_CHARS = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
"""What does not count as content: control characters, every kind of space, zero-width ones.
Written with explicit escapes that mean the same in Python's ``re`` and in the ECMA-262 regexes
of JSON Schema (``\\s`` differs between them: U+001D is a space to Python only)."""
CONTENT_PATTERN = f"[^{BLANK_CHARS}]"
"""Matches (searched, unanchored as in JSON Schema) a text with at least one visible character."""
_CONTENT = re.compile(CONTENT_PATTERN)


def has_content(value: str | None) -> bool:
    """Whether ``value`` has a visible character (the documents' ``CONTENT_PATTERN``)."""
    return bool(value) and _CONTENT.search(value or "") is not None


def image_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be an image location (None when it can): checked in full at the API so
    that every URI the image encoder receives parses with the same libraries it fetches with."""
    if any(ord(ch) < 32 or ch in " \x7f" for ch in uri):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(uri)
        port = parts.port  # ValueError on a non-numeric or out-of-range port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return "a file:// URI must not name a host"
        path = unquote(parts.path)
        if not path.startswith("/") or "\x00" in path:
            return "a file:// URI needs an absolute path without NUL bytes"
        return None
    if scheme in ("http", "https"):
        if not parts.hostname:
            return "an http(s) URL needs a host"
        if port == 0:
            return "port 0 is not a valid port"
        import httpx  # the encoder fetches with httpx: its parser must accept the URL too

        try:
            httpx.URL(uri)
        except (httpx.InvalidURL, ValueError) as exc:
            return f"is not a valid URL ({exc})"
        return None
    return "must start with file://, http:// or https://"


class Stream(StrEnum):
    """Stream names (before the deployment's ``stream_prefix``)."""

    SUBMITTED = "listings.submitted"
    PREPARED = "listings.prepared"
    TEXT_FEATURES = "features.text"
    IMAGE_FEATURES = "features.image"
    CLASSIFIED = "listings.classified"
    DEAD = "listings.dead"


Lane = Literal["live", "bulk"]
"""Which queue an event waits in: ``live`` (someone waits for the answer) or ``bulk``."""
LANES: tuple[Lane, ...] = ("live", "bulk")
BULK_SUFFIX = ".bulk"


def lane_stream(stream: Stream, lane: Lane) -> str:
    """The stream ``lane``'s events of ``stream`` travel on (before the prefix).

    Live keeps the stream's own name; bulk work (reclassification) has a twin stream with the
    ``.bulk`` suffix, so a live event never queues behind a bulk backlog. Dead letters of both
    lanes share ``listings.dead``.
    """
    if lane == "bulk" and stream != Stream.DEAD:
        return f"{stream}{BULK_SUFFIX}"
    return str(stream)


def lanes_of(stream: Stream) -> tuple[Lane, ...]:
    """The lanes ``stream`` exists in (every pipeline stream has both; dead letters one)."""
    return ("live",) if stream == Stream.DEAD else LANES


TRACEPARENT_PATTERN = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
"""A W3C Trace Context ``traceparent`` as this pipeline writes it (version 00, lowercase hex;
:func:`valid_traceparent` also refuses all-zero ids, which a regex without look-ahead cannot)."""
_TRACEPARENT_ANY = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_TRACESTATE_KEY = re.compile(
    r"[a-z][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13}"
)
_TRACESTATE_VALUE = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")
MAX_TRACESTATE_CHARS = 512
MAX_TRACESTATE_MEMBERS = 32


def valid_traceparent(value: object) -> str | None:
    """``value`` as a version-00 ``traceparent``, or None when it is not one (W3C Trace Context:
    a malformed header is ignored and a new trace starts, never an error).

    A later version is read the way the recommendation says (its first four fields, anything
    after a further dash ignored) and written back as version 00 with only the sampled flag.
    """
    if not isinstance(value, str) or len(value) < 55 or len(value) > 512:
        return None
    match = _TRACEPARENT_ANY.match(value)
    if match is None:
        return None
    version, trace_id, parent_id, flags = match.groups()
    if version == "ff" or trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    if version == "00":
        return value if len(value) == 55 else None
    if len(value) > 55 and value[55] != "-":
        return None
    return f"00-{trace_id}-{parent_id}-0{int(flags, 16) & 1}"


def valid_tracestate(value: object) -> str | None:
    """``value`` if it is a W3C ``tracestate`` (at most 32 ``key=value`` members, keys unique,
    512 characters), else None: a malformed one is dropped whole, as the recommendation says."""
    if not isinstance(value, str) or len(value) > MAX_TRACESTATE_CHARS:
        return None
    members = [m.strip(" \t") for m in value.split(",")]
    members = [m for m in members if m]
    if not members or len(members) > MAX_TRACESTATE_MEMBERS:
        return None
    keys: set[str] = set()
    for member in members:
        key, sep, val = member.partition("=")
        if not sep or key in keys or not _TRACESTATE_KEY.fullmatch(key):
            return None
        if not _TRACESTATE_VALUE.fullmatch(val):
            return None
        keys.add(key)
    return ",".join(members)


def _traceparent_or_none(value: object) -> str | None:
    return valid_traceparent(value) if value is not None else None


def _tracestate_or_none(value: object) -> str | None:
    return valid_tracestate(value) if value is not None else None


TraceParent = Annotated[str | None, BeforeValidator(_traceparent_or_none)]
TraceState = Annotated[str | None, BeforeValidator(_tracestate_or_none)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Origin(BaseModel):
    """Who asked for this classification."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["ingest", "reclassify"] = Field(
        "ingest", description="ingest: a new or updated offer; reclassify: a bulk job."
    )
    job_id: UUID | None = Field(None, description="The reclassification job, when kind=reclassify.")


# The envelope part of every event's documented example.
EXAMPLE_ENVELOPE: dict[str, Any] = {
    "schema_version": 1,
    "submission_id": "6f1c7d3e-8a52-4b8e-9f0e-0d3c2b1a9e77",
    "listing_id": "3804725264",
    "origin": {"kind": "ingest", "job_id": None},
    "lane": "live",
}


def with_example(example: dict[str, Any]) -> ConfigDict:
    """Model config of an event: unknown fields forbidden, one documented example."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [{**EXAMPLE_ENVELOPE, **example}]})


class Envelope(BaseModel):
    """Fields shared by every event of the pipeline."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = Field(
        SCHEMA_VERSION, description="Version of this contract (other versions are dead-lettered)."
    )
    submission_id: UUID = Field(
        ..., description="Unique per submission; the idempotency key of every side effect."
    )
    listing_id: StorableStr = Field(
        ..., min_length=1, max_length=128, description="The marketplace's product id."
    )
    origin: Origin = Field(default_factory=Origin, description="Live ingestion or bulk job.")
    lane: Lane = Field(
        "live",
        description="live: someone waits for this offer; bulk: a bulk job's (reclassification). "
        "Bulk events travel on the streams' .bulk twins, which workers read only while no live "
        "batch is running; carried unchanged to every stage. Omitted from a live event's JSON.",
        # A live event's payload stays what it was before lanes: a worker of the previous
        # version (which forbids unknown fields) still reads it during a rolling upgrade.
        exclude_if=lambda lane: lane == "live",
    )
    timestamps: dict[str, datetime] = Field(
        default_factory=dict,
        description="When each stage finished: submitted, prepared, text_encoded, "
        "image_encoded, classified (UTC); republished: when the reconciler last re-published "
        "the submission (its halves then join afresh in fusion).",
    )
    traceparent: TraceParent = Field(
        None,
        pattern=TRACEPARENT_PATTERN,
        description="W3C Trace Context traceparent of the span that published this event "
        "(version 00: 00-<trace id>-<span id>-<flags>, neither id all zeros): every stage's "
        "span is its child, so one offer is one trace across the workers. Set only where tracing is on "
        "(CATALOG_OTLP_ENDPOINT); carried unchanged by a worker without it. Untrusted: a "
        "malformed value is dropped on reading (the stage starts a new trace), never an error; "
        "a later version is rewritten as version 00. Omitted when absent.",
        exclude_if=lambda value: value is None,
    )
    tracestate: TraceState = Field(
        None,
        max_length=MAX_TRACESTATE_CHARS,
        description="W3C Trace Context tracestate (vendor key=value list) going with traceparent; "
        "dropped when malformed or without a valid traceparent. Omitted when absent.",
        exclude_if=lambda value: value is None,
    )

    @field_validator("tracestate")
    @classmethod
    def _tracestate_needs_traceparent(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A tracestate means nothing without the traceparent it belongs to."""
        return value if info.data.get("traceparent") else None

    def envelope(self) -> dict[str, Any]:
        """The shared fields, to build the next stage's event from."""
        return {
            "submission_id": self.submission_id,
            "listing_id": self.listing_id,
            "origin": self.origin,
            "lane": self.lane,
            "timestamps": dict(self.timestamps),
            "traceparent": self.traceparent,
            "tracestate": self.tracestate,
        }

    def stamped(self, stage: str, at: datetime | None = None) -> Self:
        """A copy with ``stage`` stamped now (or at ``at``)."""
        times = dict(self.timestamps)
        times[stage] = at or utcnow()
        return self.model_copy(update={"timestamps": times})


class ListingSubmitted(Envelope):
    """An offer to classify, as a seller published it (``listings.submitted``)."""

    model_config = with_example(
        {
            "timestamps": {"submitted": "2026-11-25T10:00:00Z"},
            "title": "Lego Star Wars 75192 Millennium Falcon",
            "description": "<p>Boîte neuve, jamais ouverte &amp; complète.</p>",
            "image_uri": "file:///data/images/image_1263597046_product_3804725264.jpg",
        }
    )

    title: StorableStr = Field("", max_length=1000, description="The offer's title (designation).")
    description: StorableStr | None = Field(
        None, max_length=100_000, description="Optional HTML description."
    )
    image_uri: StorableStr | None = Field(
        None,
        max_length=2048,
        description="file:// path under an allowed root, or http(s) URL on an allowed host.",
    )

    @classmethod
    def new(
        cls,
        listing_id: str,
        title: str = "",
        description: str | None = None,
        image_uri: str | None = None,
        origin: Origin | None = None,
        lane: Lane = "live",
    ) -> ListingSubmitted:
        """A fresh submission with a new id, stamped ``submitted`` now."""
        return cls(
            submission_id=uuid4(),
            listing_id=listing_id,
            origin=origin or Origin(),
            lane=lane,
            timestamps={"submitted": utcnow()},
            title=title,
            description=description,
            image_uri=image_uri,
        )


class Language(BaseModel):
    code: str = Field(..., description="ISO 639-1 code from fastText lid.176, or 'unknown'.")
    confidence: float = Field(..., ge=0.0, le=1.0, description="fastText probability.")


class Translation(BaseModel):
    status: Literal["not_needed", "translated", "cached", "failed", "disabled"] = Field(
        ..., description="What happened to the text on its way to French."
    )
    provider: str | None = Field(None, description="Translation provider used.")
    reason: str | None = Field(None, description="Why translation failed or was skipped.")


class ListingPrepared(Envelope):
    """Cleaned text in French, ready for the text encoder (``listings.prepared``)."""

    model_config = with_example(
        {
            "timestamps": {
                "submitted": "2026-11-25T10:00:00Z",
                "prepared": "2026-11-25T10:00:00.020Z",
            },
            "title": "Harry Potter and the Philosopher's Stone",
            "description": None,
            "text": "Harry Potter and the Philosopher's Stone",
            "text_fr": "Harry Potter à l'école des sorciers",
            "text_truncated": False,
            "language": {"code": "en", "confidence": 0.97},
            "translation": {"status": "translated", "provider": "google", "reason": None},
        }
    )

    title: str = Field("", description="Original title.")
    description: str | None = Field(None, description="Original description (HTML).")
    image_uri: str | None = Field(None, description="Carried for support; not used downstream.")
    text: str = Field("", description="Cleaned merged text in its original language.")
    text_fr: str = Field("", description="Cleaned text in French: what the text models read.")
    text_truncated: bool = Field(False, description="The cleaned text was capped.")
    language: Language = Field(..., description="Detected language of the cleaned text.")
    translation: Translation = Field(..., description="Translation outcome.")


class ModelOutput(BaseModel):
    """Logits of one model for one offer."""

    model: str = Field(..., description="Model name in the repository (e.g. text_minilm).")
    logits: list[float] = Field(..., description="One logit per label, in the manifest's order.")


class ShadowOutputs(BaseModel):
    """Logits of the shadow candidate for the same offer (sampled live offers only)."""

    model_version: str = Field(..., description="The shadow revision's version.")
    outputs: list[ModelOutput] = Field(..., description="Per model logits of that revision.")


class TextFeatures(Envelope):
    """Logits of every text model (``features.text``)."""

    model_config = with_example(
        {
            "timestamps": {"submitted": "2026-11-25T10:00:00Z"},
            "model_version": "r3-20261125T0930",
            "status": "ok",
            "outputs": [{"model": "text_minilm", "logits": [0.1, 2.3, -1.2]}],
            "language": "fr",
            "translation_status": "not_needed",
        }
    )

    model_version: str = Field(
        ..., max_length=MAX_VERSION_CHARS, description="Model repository version that produced them."
    )
    status: Literal["ok", "missing"] = Field("ok", description="missing: the offer had no text.")
    reason: str | None = Field(None, description="Why the text is missing.")
    outputs: list[ModelOutput] = Field(default_factory=list, description="Per text model logits.")
    language: str | None = Field(None, description="Detected language, carried for reporting.")
    translation_status: str | None = Field(None, description="Carried for reporting.")
    shadow: ShadowOutputs | None = Field(None, description="The shadow candidate's logits, if sampled.")


ImageMissingReason = Literal[
    "no_image", "not_found", "corrupt", "too_large", "forbidden", "timeout", "fetch_error"
]


class ImageFeatures(Envelope):
    """Logits of every image model, or why there are none (``features.image``)."""

    model_config = with_example(
        {
            "timestamps": {"submitted": "2026-11-25T10:00:00Z"},
            "model_version": "r3-20261125T0930",
            "status": "missing",
            "reason": "not_found",
            "detail": "no file at /data/images/image_1_product_2.jpg",
            "outputs": [],
        }
    )

    model_version: str = Field(
        ..., max_length=MAX_VERSION_CHARS, description="Model repository version that produced them."
    )
    status: Literal["ok", "missing"] = Field("ok", description="missing: no usable image.")
    reason: ImageMissingReason | None = Field(None, description="Why the image is missing.")
    detail: str | None = Field(None, description="Human-readable detail of the reason.")
    outputs: list[ModelOutput] = Field(default_factory=list, description="Per image model logits.")
    shadow: ShadowOutputs | None = Field(None, description="The shadow candidate's logits, if sampled.")


class CategoryScore(BaseModel):
    prdtypecode: int = Field(..., ge=0, le=MAX_PRDTYPECODE, description="Product type code.")
    label: str = Field(..., max_length=MAX_LABEL_CHARS, description="Category name.")
    probability: float = Field(..., ge=0.0, le=1.0, description="Fused probability.")


class ListingClassified(Envelope):
    """The prediction (``listings.classified``); external systems may subscribe too."""

    model_config = with_example(
        {
            "timestamps": {
                "submitted": "2026-11-25T10:00:00Z",
                "classified": "2026-11-25T10:00:00.180Z",
            },
            "prdtypecode": 1280,
            "label": "Jouets & Enfant",
            "confidence": 0.91,
            "top_k": [
                {"prdtypecode": 1280, "label": "Jouets & Enfant", "probability": 0.91},
                {"prdtypecode": 1281, "label": "Jeux de société", "probability": 0.05},
            ],
            "modalities": ["text", "image"],
            "model_version": "r3-20261125T0930",
            "model_versions": {"text_minilm": "3", "image_efficientnet_lite0": "3"},
            "decision": "review",
        }
    )

    prdtypecode: int = Field(..., ge=0, le=MAX_PRDTYPECODE, description="Predicted product type code.")
    label: str = Field(..., max_length=MAX_LABEL_CHARS, description="Its category name.")
    confidence: float = Field(..., ge=0.0, le=1.0, description="Probability of the prediction.")
    top_k: list[CategoryScore] = Field(
        ..., max_length=1000, description="Best categories, most likely first."
    )
    modalities: list[Literal["text", "image"]] = Field(
        ..., max_length=2, description="Which modalities the prediction used."
    )
    model_version: str = Field(..., max_length=MAX_VERSION_CHARS, description="Model repository version.")
    model_versions: dict[
        Annotated[str, Field(max_length=MAX_LABEL_CHARS)], Annotated[str, Field(max_length=MAX_VERSION_CHARS)]
    ] = Field(
        default_factory=dict, max_length=64, description="Exact version of every model that contributed."
    )
    image_missing_reason: str | None = Field(
        None, max_length=MAX_REASON_CHARS, description="Why the image was not used."
    )
    degraded: str | None = Field(
        None,
        max_length=64,
        description="Why the prediction used less than the offer had, e.g. join_expired:image "
        "(the image half never arrived before join_ttl_s).",
    )
    language: str | None = Field(
        None, max_length=MAX_SHORT_CHARS, description="Detected language of the text."
    )
    translation_status: str | None = Field(
        None, max_length=MAX_SHORT_CHARS, description="Translation outcome."
    )
    shadow: bool = Field(
        False, description="A shadow candidate's prediction: stored, compared, never current."
    )
    shadow_of: UUID | None = Field(None, description="The live submission a shadow prediction shadows.")
    decision: Literal["auto", "review"] | None = Field(
        None,
        description="`auto`: confident enough to accept without a person (the confidence reaches "
        "the serving revision's threshold for the predicted class, chosen on held-out rows for "
        "CATALOG_AUTO_ACCEPT_PRECISION); `review`: a person should look. Absent from "
        "revisions without thresholds and from events of earlier versions.",
        # Omitted when null, so such an event is what it was before the field. A writer of the
        # previous version forbids it: roll writers out before fusion workers.
        exclude_if=lambda decision: decision is None,
    )


class DeadLetter(BaseModel):
    """A message no worker could process (``listings.dead``), kept for inspection and replay."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "schema_version": 1,
                    "dead_id": "0b8f0d52-3c1e-4f57-9f61-5d0e1c2b3a4d",
                    "stream": "listings.submitted",
                    "message_id": "1764064800000-0",
                    "worker": "language",
                    "consumer": "language-host-4242-a1b2c3",
                    "reason": "invalid_payload",
                    "error": "1 validation error for ListingSubmitted\nsubmission_id\n  Field required",
                    "attempts": 1,
                    "payload": '{"listing_id": "42"}',
                    "dead_at": "2026-11-25T10:00:01Z",
                }
            ]
        }
    )

    schema_version: int = Field(SCHEMA_VERSION, description="Version of this contract.")
    dead_id: UUID = Field(default_factory=uuid4, description="Id of this dead letter.")
    stream: str = Field(..., description="Stream the message came from (without prefix nor lane suffix).")
    lane: Lane = Field("live", description="The lane it came from (bulk: the stream's .bulk twin).")
    message_id: str | None = Field(None, description="Redis id of the original entry.")
    worker: str = Field(..., description="Worker kind that gave up.")
    consumer: str | None = Field(None, description="Consumer name that gave up.")
    reason: Literal["invalid_payload", "max_deliveries", "handler_rejected", "join_expired"] = Field(
        ...,
        description="Why the message is dead (join_expired: a half waited past join_ttl_s and "
        "could not be classified alone).",
    )
    error: str = Field(..., description="The error message (validation errors included).")
    attempts: int = Field(..., ge=0, description="Deliveries before giving up.")
    payload: str = Field(
        ..., description="The original payload as received (bytes that are not UTF-8 replaced)."
    )
    payload_base64: str | None = Field(
        None, description="The original payload's exact bytes, base64, when they are not UTF-8."
    )
    dead_at: datetime = Field(default_factory=utcnow, description="When it was dead-lettered (UTC).")


EVENT_OF_STREAM: dict[Stream, type[BaseModel]] = {
    Stream.SUBMITTED: ListingSubmitted,
    Stream.PREPARED: ListingPrepared,
    Stream.TEXT_FEATURES: TextFeatures,
    Stream.IMAGE_FEATURES: ImageFeatures,
    Stream.CLASSIFIED: ListingClassified,
    Stream.DEAD: DeadLetter,
}
