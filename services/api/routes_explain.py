"""Why a listing got its category: ``GET /v1/listings/{listing_id}/explanation``.

The explanation of a listing's current submission is computed once (occlusion through the
served models, 1-2 s on CPU) and cached in Redis under that submission's id, so the dashboard's
review queue can ask for it on every refresh; concurrent requests for one submission share one
computation. A reclassified listing has a new submission, hence a fresh explanation.
``refresh=true`` (recompute despite the cache) needs the API token, and every computation counts
against ``CATALOG_API_EXPENSIVE_PER_MINUTE`` (429 beyond it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from redis.exceptions import RedisError

from shared.explanation import Explanation
from shared.inference.backend import InferenceError

from .deps import DbSession
from .queries import listing_detail
from .schemas import ErrorOut, ListingIdPath
from .state import UNAUTHORIZED, ApiState, ClassifierUnavailable, State, token_problem

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", responses={422: {"model": ErrorOut}})


def explained_listing(listing_id: ListingIdPath, session: DbSession) -> dict[str, Any]:
    """The listing to explain, read through the request's session (a plain ``def``: FastAPI runs
    it on its thread pool). The read ends here, so the computation that follows (1-2 s) holds
    no database connection."""
    listing = listing_detail(session, listing_id, history=0)
    session.commit()  # nothing written: this only hands the connection back to the pool
    if listing is None:
        raise HTTPException(404, f"No listing {listing_id!r}: submit it with POST /v1/listings.")
    return listing


async def _cached(state: ApiState, key: str) -> Explanation | None:
    if state.publisher is None:
        return None
    try:
        raw = await state.publisher.redis.get(key)
    except RedisError as exc:  # the cache is an optimisation: compute instead
        log.warning("explanation cache unavailable", extra={"error": str(exc)})
        return None
    return Explanation.model_validate_json(raw) if raw else None


async def _store(state: ApiState, key: str, explanation: Explanation) -> None:
    if state.publisher is None:
        return
    try:
        await state.publisher.redis.set(
            key, explanation.model_dump_json(), ex=state.settings.explanation_cache_ttl_s
        )
    except RedisError as exc:
        log.warning("explanation not cached", extra={"error": str(exc)})


async def _compute(state: ApiState, listing: dict[str, Any]) -> Explanation:
    started = time.perf_counter()
    try:
        explainer = await state.get_explainer()
        result = await asyncio.wait_for(
            explainer.explain_listing(listing), timeout=state.settings.explain_timeout_s
        )
    except ClassifierUnavailable as exc:
        raise HTTPException(503, f"No model is available to explain: {exc}") from exc
    except TimeoutError as exc:
        raise HTTPException(
            504, f"The explanation took longer than {state.settings.explain_timeout_s:.0f} s; retry later."
        ) from exc
    except (FileNotFoundError, LookupError, InferenceError) as exc:
        log.warning("explanation unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
        raise HTTPException(503, f"No model is available to explain ({type(exc).__name__}).") from exc
    except ValueError as exc:
        raise HTTPException(422, f"Cannot explain this listing: {exc}") from exc
    state.metrics.explain.observe(time.perf_counter() - started)
    return Explanation.model_validate(result)


@router.get(
    "/listings/{listing_id}/explanation",
    response_model=Explanation,
    responses={
        401: {"model": ErrorOut, "description": "refresh=true without the API token."},
        404: {"model": ErrorOut},
        409: {"model": ErrorOut},
        429: {"model": ErrorOut, "description": "Too many explanations computed this minute."},
        503: {"model": ErrorOut},
        504: {"model": ErrorOut},
    },
    summary="Why a listing got its category: top-3, words for and against, photo heat-map, modality shares",
)
async def get_explanation(
    listing_id: ListingIdPath,
    listing: Annotated[dict[str, Any], Depends(explained_listing)],
    state: State,
    request: Request,
    response: Response,
    refresh: bool = Query(
        False, description="Recompute even if an explanation is cached (needs the API token)."
    ),
) -> Explanation:
    """Occlusion attributions of the listing's current prediction, computed through the served
    models (its own model version while that revision is on disk) and cached per submission
    (``X-Cache: hit`` or ``miss``)."""
    if refresh:  # a forced recomputation is a write of the cache: the token's, like every write
        problem = token_problem(state.settings, request.headers.get("authorization"))
        if problem:
            raise HTTPException(401, problem, headers=UNAUTHORIZED)
    current = listing.get("current")
    if current is None:
        raise HTTPException(409, f"Listing {listing_id!r} is not classified yet; retry once it is.")
    submission = current["submission_id"]
    key = state.settings.key(f"explanation:{submission}")
    cached = None if refresh else await _cached(state, key)
    if cached is not None:
        response.headers["X-Cache"] = "hit"
        return cached
    wanted = {**listing, "model_version": current["model_version"], "submission_id": submission}
    pending = state.explaining.get(submission)
    if pending is None:  # the first request computes; concurrent ones wait for it
        state.expensive.admit("explanations")
        pending = asyncio.ensure_future(_compute(state, wanted))
        state.explaining[submission] = pending
        pending.add_done_callback(lambda _: state.explaining.pop(submission, None))
    explanation: Explanation = await asyncio.shield(pending)
    await _store(state, key, explanation)
    response.headers["X-Cache"] = "miss"
    return explanation
