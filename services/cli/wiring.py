"""The composition root's factories: where services meet (the only place they may).

Each ``services/<kind>`` package imports ``shared`` alone; whatever needs two of them (the API's
synchronous classifier runs the language, encoder and fusion logic in-process; the API starts
reclassification runs) is put together here and handed over as plain callables.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI

from services.api.app import create_app
from services.api.state import Classifier, Explainer
from services.cli.explaining import OnlineExplainer
from services.cli.online import OnlineClassifier
from services.reclassify.runner import RunOptions, run_job
from shared.config import Settings


async def build_online_classifier(settings: Settings) -> Classifier:
    """The in-process classifier of ``/v1/classify`` (language + encoders + fusion)."""
    return OnlineClassifier(settings)


async def build_online_explainer(settings: Settings, classifier: Classifier) -> Explainer:
    """The explainer of ``/v1/listings/{id}/explanation``, sharing the classifier's backend and models."""
    return OnlineExplainer(settings, classifier if isinstance(classifier, OnlineClassifier) else None)


async def run_reclassification(settings: Settings, job_id: uuid.UUID, page_size: int) -> Any:
    """One reclassification job run inside the API process (until a runner of its own exists)."""
    return await run_job(settings, job_id, RunOptions(page_size=page_size))


def api_app(settings: Settings, classifier: Classifier | None = None) -> FastAPI:
    """The HTTP API with every collaborator wired (``catalog api``, the demo, tests)."""
    return create_app(
        settings,
        classifier,
        build_classifier=build_online_classifier,
        run_job=run_reclassification,
        build_explainer=build_online_explainer,
    )
