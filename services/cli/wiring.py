"""The composition root's factories: where services meet (the only place they may).

Each ``services/<kind>`` package imports ``shared`` alone; whatever needs two of them (the API's
synchronous classifier runs the language, encoder and fusion logic in-process) is put together
here and handed over as plain callables. (Reclassification jobs are run by their own worker,
``services.reclassify.worker``, not by the API.)
"""

from __future__ import annotations

from fastapi import FastAPI

from services.api.app import create_app
from services.api.state import Classifier, Explainer
from services.cli.explaining import OnlineExplainer
from services.cli.online import OnlineClassifier
from shared.config import Settings


async def build_online_classifier(settings: Settings) -> Classifier:
    """The in-process classifier of ``/v1/classify`` (language + encoders + fusion)."""
    return OnlineClassifier(settings)


async def build_online_explainer(settings: Settings, classifier: Classifier) -> Explainer:
    """The explainer of ``/v1/listings/{id}/explanation``, sharing the classifier's backend and models."""
    return OnlineExplainer(settings, classifier if isinstance(classifier, OnlineClassifier) else None)


def api_app(settings: Settings, classifier: Classifier | None = None) -> FastAPI:
    """The HTTP API with every collaborator wired (``catalog api``, the demo, tests)."""
    return create_app(
        settings,
        classifier,
        build_classifier=build_online_classifier,
        build_explainer=build_online_explainer,
    )
