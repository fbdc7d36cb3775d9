"""The composition root's factories: where services meet (the only place they may).

Each ``services/<kind>`` package imports ``shared`` alone; whatever needs two of them (the API's
synchronous classifier runs the language, encoder and fusion logic in-process) is put together
here and handed over as plain callables. (Reclassification jobs are run by their own worker,
``services.reclassify.worker``, not by the API.) Training and evaluation get the serving language
step the same way: a :class:`TextPreparer` built here from services.language.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.api.app import create_app
from services.api.state import Classifier, Explainer
from services.cli.explaining import OnlineExplainer
from services.cli.online import OnlineClassifier
from shared.config import Settings
from shared.ml.model_repo import Manifest
from shared.ml.text_preparation import TextPreparer, Untranslated, trained_translated
from training.held_out import PreparerFor


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


def text_preparer(settings: Settings, translation: str) -> TextPreparer:
    """The language step training (and evaluation) applies, built from services.language so that
    training itself never imports services. ``translation``: ``on``, ``off`` or ``auto`` (follows
    CATALOG_TRANSLATOR, as the serving language worker does)."""
    translate = translation == "on" or (translation == "auto" and settings.translator != "none")
    if not translate:
        return Untranslated()
    from services.language.training import LanguageStepPreparer

    return LanguageStepPreparer(settings)


def serving_preparer_for(settings: Settings) -> PreparerFor:
    """For re-scoring a revision (the promotion gate): the language step it was trained with."""

    def preparer_for(manifest: Manifest) -> TextPreparer:
        return text_preparer(settings, "on" if trained_translated(manifest) else "off")

    return preparer_for
