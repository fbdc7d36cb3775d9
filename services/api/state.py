"""What the API process holds: settings, the publisher, the classifier, metrics."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.broker import EventPublisher
from shared.config import Settings

from .throttle import Throttle, TtlCache

log = logging.getLogger(__name__)


class Classifier(Protocol):
    """The synchronous path's model (built by the composition root: ``services.cli.online``)."""

    async def classify(self, title: str, description: str | None, image: bytes | None) -> Any: ...


ClassifierFactory = Callable[[Settings], Awaitable[Classifier]]
"""Builds the classifier on first use (the API starts before a model exists)."""


class Explainer(Protocol):
    """Explains a stored listing (built by the composition root: ``services.cli.explaining``)."""

    async def explain_listing(self, listing: dict[str, Any]) -> Any: ...


ExplainerFactory = Callable[[Settings, Classifier], Awaitable[Explainer]]
"""Builds the explainer on first use, around the API's classifier (one backend, one model store)."""


class ClassifierUnavailable(RuntimeError):
    """No model is loaded (no repository yet, or the backend is down)."""


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""HTTP methods counted under their own name in metrics (any other: ``other``)."""


def status_label(status: int) -> str:
    """A status code as a metric label: the code itself for the ones HTTP defines, else its class."""
    return str(status) if 100 <= status <= 599 else "other"


class Metrics:
    """Prometheus metrics of one app (own registry, so several apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "catalog_api_requests", "HTTP requests.", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "catalog_api_request_seconds", "HTTP request duration.", ["route"], registry=self.registry
        )
        self.submitted = Counter(
            "catalog_api_listings_submitted",
            "Offers published to listings.submitted.",
            registry=self.registry,
        )
        self.classify = Histogram(
            "catalog_api_classify_seconds",
            "Synchronous classification duration.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
            registry=self.registry,
        )
        self.explain = Histogram(
            "catalog_api_explain_seconds",
            "Explanation duration (cache misses).",
            buckets=(0.25, 0.5, 1, 2, 5, 10, 30),
            registry=self.registry,
        )
        self.classify_failures = Counter(
            "catalog_api_classify_failures",
            "Classifications that failed.",
            ["reason"],
            registry=self.registry,
        )
        self.drift_psi = Gauge(
            "catalog_drift_psi",
            "PSI of the latest drift window per signal (warn >= CATALOG_DRIFT_WARN_PSI, "
            "alert >= CATALOG_DRIFT_ALERT_PSI).",
            ["signal"],
            registry=self.registry,
        )
        self.drift_score = Gauge(
            "catalog_drift_score", "Largest PSI of the latest drift window.", registry=self.registry
        )
        self.drift_alert = Gauge(
            "catalog_drift_alert",
            "1 when the drift score reaches the alert threshold.",
            registry=self.registry,
        )
        self.live_f1 = Gauge(
            "catalog_live_weighted_f1",
            "Weighted F1 per model version over reviewer-labelled listings.",
            ["model_version"],
            registry=self.registry,
        )
        self.live_labelled = Gauge(
            "catalog_live_labelled",
            "Labelled listings a model version predicted.",
            ["model_version"],
            registry=self.registry,
        )
        self.auto_coverage = Gauge(
            "catalog_auto_coverage",
            "Share of a model version's live predictions decided `auto`.",
            ["model_version"],
            registry=self.registry,
        )
        self.auto_precision = Gauge(
            "catalog_auto_precision",
            "Precision of a model version's reviewer-labelled `auto` predictions.",
            ["model_version"],
            registry=self.registry,
        )
        self.auto_reviewed = Gauge(
            "catalog_auto_reviewed",
            "Reviewer-labelled `auto` predictions of a model version.",
            ["model_version"],
            registry=self.registry,
        )
        self.auto_below_target = Gauge(
            "catalog_auto_precision_below_target",
            "1 when the Wilson 95% upper bound of the live `auto` precision is under "
            "CATALOG_AUTO_ACCEPT_PRECISION.",
            ["model_version"],
            registry=self.registry,
        )
        self.shadow_agreement = Gauge(
            "catalog_shadow_agreement",
            "Share of live submissions on which the shadow candidate agrees with the live model.",
            ["live_version", "shadow_version"],
            registry=self.registry,
        )


CODE_NAMES_TTL_S = 60.0


@dataclass
class ApiState:
    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    publisher: EventPublisher | None = None
    classifier: Classifier | None = None
    build_classifier: ClassifierFactory | None = None
    classifier_error: str | None = None
    last_drift: dict[str, Any] | None = None
    explainer: Explainer | None = None
    build_explainer: ExplainerFactory | None = None
    explaining: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    expensive: Throttle = field(init=False)
    drift_reports: TtlCache = field(init=False)
    _classifier_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _codes: dict[int, Any] = field(default_factory=dict)
    _codes_read_at: float = float("-inf")

    def __post_init__(self) -> None:
        self.expensive = Throttle(self.settings.api_expensive_per_minute)
        self.drift_reports = TtlCache(self.settings.drift_cache_s)

    async def code_names(self) -> dict[int, Any]:
        """Codes' names and paths (``shared.taxonomy.store.CodeInfo``) for the suggestions,
        re-read every minute; a database that is down or slow (1 s) leaves the last ones (the
        suggestions then carry the model's labels alone: naming never blocks classifying)."""
        if time.monotonic() - self._codes_read_at < CODE_NAMES_TTL_S:
            return self._codes
        self._codes_read_at = time.monotonic()
        from fastapi.concurrency import run_in_threadpool
        from sqlalchemy.exc import SQLAlchemyError

        from shared.db.session import session_scope
        from shared.taxonomy.store import directory

        def read() -> dict[int, Any]:
            with session_scope(self.settings.effective_database_url) as session:
                return directory(session)

        try:
            self._codes = await asyncio.wait_for(run_in_threadpool(read), timeout=1.0)
        except (SQLAlchemyError, TimeoutError) as exc:
            log.warning("category names unavailable", extra={"error": type(exc).__name__})
        return self._codes

    async def get_classifier(self) -> Classifier:
        """The classifier, built on first use so the API starts before a model exists."""
        if self.classifier is not None:
            return self.classifier
        async with self._classifier_lock:
            if self.classifier is None:
                if self.build_classifier is None:
                    raise ClassifierUnavailable("this API was started without a classifier")
                try:
                    self.classifier = await self.build_classifier(self.settings)
                    self.classifier_error = None
                except Exception as exc:  # no model yet, backend down: say so, retry next time
                    self.classifier_error = f"{type(exc).__name__}: {exc}"
                    log.warning("classifier unavailable", extra={"error": self.classifier_error})
                    # The detail (file paths, hosts) stays in the log: callers learn the kind only.
                    raise ClassifierUnavailable(type(exc).__name__) from exc
        return self.classifier

    async def get_explainer(self) -> Explainer:
        """The explainer, built on first use around the classifier."""
        if self.explainer is None:
            if self.build_explainer is None:
                raise ClassifierUnavailable("this API was started without an explainer")
            classifier = await self.get_classifier()
            async with self._classifier_lock:
                if self.explainer is None:
                    self.explainer = await self.build_explainer(self.settings, classifier)
        return self.explainer


def api_state(request: Request) -> ApiState:
    return request.app.state.api  # type: ignore[no-any-return]


_bearer = HTTPBearer(auto_error=False, description="The API token (CATALOG_API_TOKEN).")
UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def token_problem(settings: Settings, authorization: str | None) -> str | None:
    """Why a request with this ``Authorization`` header may not write (None when it may).

    Only ``CATALOG_API_AUTH=off`` opens writes (the embedded demo). With auth on and no token
    configured, nobody gets in: a forgotten setting must not leave the API open.
    """
    if settings.api_auth == "off":
        return None
    expected = settings.api_token
    if not expected:
        return (
            "This API has no token configured: set CATALOG_API_TOKEN (or CATALOG_API_AUTH=off "
            "for a local demo)."
        )
    scheme, _, given = (authorization or "").strip().partition(" ")
    given = given.strip() if scheme.lower() == "bearer" else ""
    # Constant time over bytes (compare_digest on str refuses non-ASCII input).
    if not secrets.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8")):
        return "Missing or wrong bearer token: send 'Authorization: Bearer <CATALOG_API_TOKEN>'."
    return None


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Writes and classification need ``Authorization: Bearer <CATALOG_API_TOKEN>``.

    ``gate.AuthGate`` already refused a wrong token before the body was read; this dependency
    states the requirement in the OpenAPI document and checks again (defence in depth).
    """
    given = f"Bearer {credentials.credentials}" if credentials else None
    problem = token_problem(api_state(request).settings, given)
    if problem:
        raise HTTPException(status_code=401, detail=problem, headers=UNAUTHORIZED)


State = Annotated[ApiState, Depends(api_state)]
WriteAccess = Depends(require_token)
"""Every write and the classify endpoints (they run models and may call a paid translator)."""
