"""Offers in (asynchronous ingestion), one offer classified now (seller's form), one listing out."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from shared.categories import label_of
from shared.contract import ListingSubmitted, Stream, has_content
from shared.db.listings import upsert_listings
from shared.db.submissions import record_submissions
from shared.inference.backend import InferenceError

from .deps import DbSession
from .errors import RETRY_AFTER_S
from .queries import listing_detail
from .schemas import (
    ClassifyIn,
    ClassifyOut,
    ErrorOut,
    ListingIdPath,
    OfferIn,
    OffersBody,
    OffersIn,
    SubmissionOut,
    SubmittedOut,
)
from .state import ApiState, ClassifierUnavailable, State, WriteAccess

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", responses={422: {"model": ErrorOut}})


def stage_offers(session: Session, events: list[ListingSubmitted]) -> None:
    """Upsert each offer's content and record its submission (for the reconciler) in the
    request's transaction (not committed yet)."""
    upsert_listings(session, events)
    record_submissions(session, events)
    session.flush()


async def submit_offers(
    state: ApiState,
    session: Session,
    offers: list[OfferIn],
    traceparent: str | None = None,
    tracestate: str | None = None,
) -> list[ListingSubmitted]:
    """Store each offer's content (for later bulk reclassification) and publish it.

    The content is written but committed only once the publish succeeded: with Redis down, the
    client gets a 503 and the database keeps nothing of an offer that never entered the pipeline.
    With tracing on, each offer's trace continues the caller's W3C ``traceparent`` (if valid).
    """
    if state.publisher is None:
        raise HTTPException(
            503,
            "The API is not connected to Redis yet; retry in a moment.",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    events = [
        ListingSubmitted.new(o.listing_id, title=o.title, description=o.description, image_uri=o.image_uri)
        for o in offers
    ]
    await run_in_threadpool(stage_offers, session, events)
    try:
        await state.publisher.publish(Stream.SUBMITTED, events, traceparent, tracestate)
    except BaseException:
        await run_in_threadpool(session.rollback)
        raise
    await run_in_threadpool(session.commit)
    state.metrics.submitted.inc(len(events))
    return events


@router.post(
    "/listings",
    status_code=202,
    response_model=SubmittedOut,
    dependencies=[WriteAccess],
    responses={401: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    summary="Submit one or many offers for classification",
)
async def post_listings(body: OffersBody, state: State, session: DbSession, request: Request) -> SubmittedOut:
    """Validates the offers, stores their content and publishes them to ``listings.submitted``.
    Returns at once (202) with one submission id per offer; the category arrives in
    ``GET /v1/listings/{listing_id}`` when the pipeline has classified it. With tracing on, a
    W3C ``traceparent`` header (and ``tracestate``) makes each offer's trace a child of the
    caller's span; a malformed one is ignored."""
    offers = body.offers if isinstance(body, OffersIn) else [body]
    headers = request.headers
    events = await submit_offers(
        state, session, offers, headers.get("traceparent"), headers.get("tracestate")
    )
    return SubmittedOut(
        accepted=len(events),
        submissions=[SubmissionOut(listing_id=e.listing_id, submission_id=e.submission_id) for e in events],
    )


def _category(item: Any) -> dict[str, Any]:
    """One top-k entry from the classifier, whatever its shape (model, dict or tuple)."""
    if isinstance(item, tuple | list):
        code, prob = item[0], item[1]
        label = item[2] if len(item) > 2 else label_of(int(code))
        return {"prdtypecode": int(code), "label": str(label), "probability": float(prob)}
    fields: dict[str, Any] = item if isinstance(item, dict) else getattr(item, "__dict__", {})
    get = fields.get
    code = int(get("prdtypecode", get("code", 0)))
    return {
        "prdtypecode": code,
        "label": str(get("label") or label_of(code)),
        "probability": float(get("probability", get("score", 0.0))),
    }


def _named(entry: dict[str, Any], codes: dict[int, Any]) -> dict[str, Any]:
    """A suggestion with the taxonomy's name and path (the model's label without a taxonomy)."""
    info = codes.get(entry["prdtypecode"])
    if info is None:
        return {**entry, "name": entry["label"], "path": entry["label"]}
    return {**entry, "name": info.name, "path": info.path}


async def classify_now(
    state: ApiState, title: str, description: str | None, image: bytes | None
) -> ClassifyOut:
    """Top-3 categories of one offer within ``classify_timeout_s`` (504 past it)."""
    if not (has_content(title) or has_content(description) or image):
        raise HTTPException(422, "Send at least one of title, description or an image.")
    if image is not None and len(image) > state.settings.image_max_bytes:
        raise HTTPException(413, f"The image is larger than {state.settings.image_max_bytes} bytes.")
    started = time.perf_counter()
    try:
        classifier = await state.get_classifier()
        result = await asyncio.wait_for(
            classifier.classify(title, description, image), timeout=state.settings.classify_timeout_s
        )
    except ClassifierUnavailable as exc:
        state.metrics.classify_failures.labels("unavailable").inc()
        raise HTTPException(503, f"No model is available to classify: {exc}") from exc
    except TimeoutError as exc:
        state.metrics.classify_failures.labels("timeout").inc()
        raise HTTPException(
            504, f"Classification took longer than {state.settings.classify_timeout_s:.1f} s; retry later."
        ) from exc
    except (FileNotFoundError, LookupError, InferenceError) as exc:  # no model, backend down
        state.metrics.classify_failures.labels("unavailable").inc()
        log.warning("classification unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
        raise HTTPException(503, f"No model is available to classify ({type(exc).__name__}).") from exc
    except ValueError as exc:  # e.g. an image that does not decode
        state.metrics.classify_failures.labels("bad_input").inc()
        raise HTTPException(422, f"Cannot classify this input: {exc}") from exc
    elapsed = time.perf_counter() - started
    state.metrics.classify.observe(elapsed)
    items = result.get("top_k", []) if isinstance(result, dict) else getattr(result, "top_k", result)
    codes = await state.code_names()
    top_k = [_named(_category(item), codes) for item in items][:3]
    modalities = getattr(result, "modalities", None)
    if modalities is None:  # a classifier that does not say: what it was given
        modalities = [m for m, present in (("text", title or description), ("image", image)) if present]
    unused = _unused_photo(
        state, result, image, modalities, text=has_content(title) or has_content(description)
    )
    return ClassifyOut.model_validate(
        {
            "top_k": top_k,
            "modalities": list(modalities),
            "model_version": getattr(result, "model_version", None),
            "decision": getattr(result, "decision", None),
            "elapsed_ms": round(elapsed * 1000, 2),
            "image_unused_reason": unused,
        }
    )


PHOTO_PROBLEMS = {
    "corrupt": "it is not a readable JPEG, PNG or WebP image (or it is truncated)",
    "too_large": "it is larger than the limits (CATALOG_IMAGE_MAX_BYTES, CATALOG_IMAGE_MAX_PIXELS)",
}


def _unused_photo(
    state: ApiState, result: Any, image: bytes | None, modalities: list[str], *, text: bool
) -> str | None:
    """Why a photo that was sent did not count (None when it did, or none was sent).

    Photo alone: 422 naming the reason, never the class prior dressed as an answer from the
    photo. With a text: the answer is the text's, and ``image_unused_reason`` says so.
    """
    if not image or "image" in modalities:
        return None
    reason = str(getattr(result, "image_missing_reason", None) or "corrupt")
    if text:
        return reason
    if reason == "version_mismatch":  # the models are being swapped: not the photo's fault
        raise HTTPException(503, "The image model is being updated; retry in a moment.")
    state.metrics.classify_failures.labels("bad_input").inc()
    problem = PHOTO_PROBLEMS.get(reason, "it cannot be decoded")
    raise HTTPException(422, f"The photo cannot be used ({reason}): {problem}.")


_CLASSIFY_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    413: {"model": ErrorOut},
    503: {"model": ErrorOut},
    504: {"model": ErrorOut},
}


@router.post(
    "/classify",
    response_model=ClassifyOut,
    dependencies=[WriteAccess],
    responses=_CLASSIFY_ERRORS,
    summary="Top-3 categories of one offer now (JSON, photo in base64)",
)
async def classify_json(body: ClassifyIn, state: State) -> ClassifyOut:
    """For a seller's form, a search box (title only) or "find by picture" (photo only)."""
    image = None
    if body.image_base64:
        try:
            image = base64.b64decode(body.image_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise HTTPException(422, "image_base64 is not valid base64.") from exc
    return await classify_now(state, body.title, body.description, image)


@router.post(
    "/classify/upload",
    response_model=ClassifyOut,
    dependencies=[WriteAccess],
    responses=_CLASSIFY_ERRORS,
    summary="Top-3 categories of one offer now (multipart form with a photo file)",
)
async def classify_upload(
    state: State,
    title: Annotated[str, Form(max_length=1000)] = "",
    description: Annotated[str | None, Form(max_length=100_000)] = None,
    image: Annotated[bytes | None, File(description="The photo (JPEG/PNG/WebP).")] = None,
) -> ClassifyOut:
    """The same as ``POST /v1/classify`` for an HTML form upload (the body limit bounds the
    photo before it is read)."""
    return await classify_now(state, title, description, image or None)


@router.get(
    "/listings/{listing_id}",
    responses={404: {"model": ErrorOut}},
    summary="A listing: content, current category and prediction history",
)
def get_listing(listing_id: ListingIdPath, session: DbSession) -> dict[str, Any]:
    """Listing ids are one path segment (their grammar has no ``/``)."""
    detail = listing_detail(session, listing_id)
    if detail is None:
        raise HTTPException(404, f"No listing {listing_id!r}: submit it with POST /v1/listings.")
    return detail
