"""The HTTP API (``catalog api``): offers in, categories out, dashboard data and page, jobs.

``create_app(settings)`` builds the FastAPI app; OpenAPI lives at ``/docs`` and
``/openapi.json``. Every error is JSON ``{"error", "message", "details"}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.broker import EventPublisher
from shared.config import Settings
from shared.db.session import engine_for, migrate
from shared.dependencies import dependency_of
from shared.redact import redact_text

from . import routes_dashboard, routes_explain, routes_lifecycle, routes_listings
from .errors import error as _error
from .errors import public_errors, unavailable, validation_message
from .gate import AuthGate
from .limits import BodyLimit
from .openapi import allowed_methods, documented_openapi
from .state import KNOWN_METHODS, ApiState, Classifier, ClassifierFactory, ExplainerFactory, status_label

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


def create_app(
    settings: Settings,
    classifier: Classifier | None = None,
    *,
    build_classifier: ClassifierFactory | None = None,
    build_explainer: ExplainerFactory | None = None,
) -> FastAPI:
    """The API for ``settings``.

    Its collaborators come from the composition root (``services.cli.wiring``): the online
    classifier (or a factory building it on first use) and the explainer's factory; without
    them ``/v1/classify`` and explanations answer 503. Reclassification jobs are only created
    here: the reclassify worker runs them.
    """
    state = ApiState(
        settings=settings,
        classifier=classifier,
        build_classifier=build_classifier,
        build_explainer=build_explainer,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(migrate, settings.effective_database_url)
        monitor = (
            asyncio.create_task(routes_lifecycle.monitor_forever(state))
            if settings.drift_interval_s > 0
            else None
        )
        async with EventPublisher(settings, service="api") as publisher:
            state.publisher = publisher
            try:
                yield
            finally:
                state.publisher = None
                if monitor is not None:
                    monitor.cancel()
                for part in (state.explainer, state.classifier):
                    closer = getattr(part, "close", None)
                    if closer is not None:
                        await closer()

    app = FastAPI(
        title="Catalog classification API",
        version="1.0",
        description="Submit marketplace offers, classify one offer synchronously, read predictions, "
        "dashboard statistics and model versions, create bulk reclassification jobs. Every write and "
        "the classify endpoints need `Authorization: Bearer <CATALOG_API_TOKEN>` (unless the "
        "operator set `CATALOG_API_AUTH=off`). Bodies larger than `CATALOG_API_MAX_BODY_BYTES` "
        "get 413 before they are read.",
        lifespan=lifespan,
        # A redirect to the slash-less path would be built from the Host header (an open
        # redirect through a poisoned cache): a path with a trailing slash is simply not found.
        redirect_slashes=False,
    )
    app.state.api = state
    if settings.api_auth == "on" and not settings.api_token:
        log.warning(
            "CATALOG_API_TOKEN is not set: writes and classification answer 401 until it is "
            "(CATALOG_API_AUTH=off opens them, for a local demo only)"
        )
    elif settings.api_auth == "off":
        log.warning("CATALOG_API_AUTH=off: every write and classification is open to anyone")
    # Outermost first at run time: the size and deadline of the body (BodyLimit), then the token
    # (AuthGate): both before anything reads the body.
    app.add_middleware(AuthGate, routes=app.routes, state=state)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.api_max_body_bytes,
        timeout_s=settings.api_body_timeout_s,
        min_rate=settings.api_min_body_rate,
    )
    app.include_router(routes_explain.router, tags=["listings"])
    app.include_router(routes_lifecycle.router, tags=["model lifecycle"])
    app.include_router(routes_listings.router, tags=["listings"])
    app.include_router(routes_dashboard.router, tags=["dashboard"])
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            headers["Allow"] = ", ".join(allowed_methods(app, request.url.path))
        return _error(exc.status_code, str(exc.detail), headers=headers or None)

    @app.exception_handler(RedisError)
    async def redis_error(_: Request, exc: RedisError) -> JSONResponse:
        log.error("redis unavailable", extra={"error": str(exc)})
        return unavailable("Redis", exc)

    async def database_error(_: Request, exc: Exception) -> JSONResponse:
        # The request's transaction was rolled back and nothing was published (the offers'
        # publication comes after their SQL writes): the client may simply retry.
        log.error("database unavailable", extra={"error": str(exc)[:500]})
        return unavailable("The database", exc)

    for outage in (OperationalError, InterfaceError, DisconnectionError, PoolTimeout):
        app.add_exception_handler(outage, database_error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        dependency = dependency_of(exc)  # an outage wrapped in another error is still one
        if dependency is not None:
            log.error("dependency unavailable", extra={"dependency": dependency, "error": str(exc)[:500]})
            return unavailable(dependency, exc)
        log.exception("unexpected error")
        return _error(500, f"Internal error ({type(exc).__name__}); see the API's logs.")

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = public_errors(exc.errors())
        return _error(422, validation_message(errors), details=errors)

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            # Every label from a known set: a client-chosen method or path adds no series.
            route = getattr(request.scope.get("route"), "path", "unmatched")
            method = request.method if request.method in KNOWN_METHODS else "other"
            state.metrics.requests.labels(method, route, status_label(status)).inc()
            state.metrics.latency.labels(route).observe(time.perf_counter() - started)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "dashboard.html", media_type="text/html")

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/health",
        summary="Redis, database and inference backend",
        tags=["operations"],
        responses={503: {"description": "Redis or the database is down (same body)."}},
    )
    async def health() -> JSONResponse:
        checks = {
            "redis": await _check("redis", _redis_ok(state)),
            "database": await _check(
                "database", run_in_threadpool(_database_ok, settings.effective_database_url)
            ),
            "inference": await _check("inference", _inference_ok(state), timeout_s=15.0),
        }
        core_ok = checks["redis"]["ok"] and checks["database"]["ok"]
        status = "ok" if core_ok and checks["inference"]["ok"] else "degraded" if core_ok else "down"
        return JSONResponse({"status": status, "checks": checks}, status_code=200 if core_ok else 503)

    app.openapi = lambda: documented_openapi(app)  # type: ignore[method-assign]
    return app


async def _check(name: str, probe: Awaitable[dict[str, Any]], timeout_s: float = 3.0) -> dict[str, Any]:
    """One probe: ok and its latency, or the kind of failure (the detail, which may name files
    or hosts, goes to the log, not to anyone who can reach /health)."""
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(probe, timeout_s)
        return {"ok": True, **result, "ms": round((time.perf_counter() - started) * 1000, 1)}
    except Exception as exc:
        # a driver's message may quote the URL it was given: no password in the log either
        error = redact_text(f"{type(exc).__name__}: {exc}")[:300]
        log.warning("health check failed", extra={"check": name, "error": error})
        return {"ok": False, "error": type(exc).__name__}


async def _redis_ok(state: ApiState) -> dict[str, Any]:
    if state.publisher is None:
        raise RuntimeError("not connected")
    await state.publisher.redis.ping()
    return {}


def _database_ok(url: str) -> dict[str, Any]:
    with engine_for(url).connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"dialect": engine_for(url).dialect.name}


async def _inference_ok(state: ApiState) -> dict[str, Any]:
    classifier = await state.get_classifier()
    details: dict[str, Any] = {"backend": state.settings.inference_backend}
    store = getattr(classifier, "store", None)
    if store is not None:  # the model repository is readable and its models load
        details["model_version"] = (await store.current()).version
    return details
