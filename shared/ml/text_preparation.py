"""One rule for the language step: training text is prepared like served text, or neither is.

Serving feeds the text models the French translation of non-French offers (``text_fr``) when a
translator is configured, the cleaned original otherwise. A model trained on originals and
served translations (or the reverse) sees a distribution it never learnt: train/serve skew.

So training takes an injected :class:`TextPreparer` (built by the CLI, the composition root,
from services.language: detect, then translate through the Redis-backed translation cache, so a
re-run costs no new calls), records what it did in ``manifest.training["text_preparation"]``,
and serving checks that record when it loads a model (:func:`check_text_preparation`).
``shared`` imports nothing from ``services`` or ``training``: this module is only the contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.ml.model_repo import Manifest

KEY = "text_preparation"


@dataclass
class PreparedTexts:
    """Texts as the text models read them, plus counts for the manifest."""

    texts: list[str]
    stats: dict[str, int] = field(default_factory=dict)


class TextPreparer(Protocol):
    """The serving language step applied to cleaned offer texts."""

    def describe(self) -> dict[str, Any]:
        """``{"translated": bool, ...}`` as recorded in the manifest."""
        ...

    def prepare(self, texts: Sequence[str]) -> PreparedTexts:
        """One prepared text per input text, in order."""
        ...


class Untranslated:
    """The identity step: no translation in training, and none allowed in serving."""

    def describe(self) -> dict[str, Any]:
        return {"translated": False}

    def prepare(self, texts: Sequence[str]) -> PreparedTexts:
        return PreparedTexts(list(texts), {"texts": len(texts)})


class TextPreparationMismatch(ValueError):
    """The model was trained with another language step than the one serving would apply."""


def trained_translated(manifest: Manifest) -> bool:
    """Whether ``manifest``'s text models were trained on translated text (older manifests,
    written before the rule existed, were not)."""
    return bool(manifest.training.get(KEY, {}).get("translated", False))


def check_text_preparation(manifest: Manifest, translated: bool) -> None:
    """Raise :class:`TextPreparationMismatch` unless serving (``translated``) applies the same
    language step as the one ``manifest`` was trained with."""
    if not manifest.text_models:
        return
    trained = trained_translated(manifest)
    if trained != translated:
        raise TextPreparationMismatch(
            f"Model {manifest.version} was trained on {'translated' if trained else 'untranslated'} "
            f"text but serving is configured to {'translate' if translated else 'not translate'} "
            "(CATALOG_TRANSLATOR). Retrain with the serving setting, or change the setting."
        )
