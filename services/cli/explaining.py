"""The explainer served by ``catalog explain`` and ``GET /v1/listings/{id}/explanation``.

Composition: ``services.explain`` does the occlusion arithmetic; here it gets the very functions
the workers run (``encode_texts``, ``encode_images``, ``classify_pairs``) on the online
classifier's backend, model store and language preparer, so an explanation weighs exactly the
served decision (its base probabilities equal ``catalog classify``'s).
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from PIL import Image

from services.cli.online import OnlineClassifier
from services.explain import ExplainOptions, ServedModels, explain_offer
from services.fusion.classify import Pair, classify_pairs
from services.image_encoder.encode import encode_images
from services.image_encoder.images import ImageProblem, decode, fetch_image_bytes, http_client
from services.text_encoder.encode import encode_texts
from shared.config import Settings
from shared.contract import ListingClassified, ListingSubmitted
from shared.explanation import Explanation
from shared.ml.model_repo import Manifest
from shared.ml.preprocess import decode_target


def served_models(classifier: OnlineClassifier, manifest: Manifest) -> ServedModels:
    """``manifest``'s encoders and fusion as callables over the classifier's backend and store."""
    backend, store = classifier.backend, classifier.store
    envelope = ListingSubmitted.new("explain")
    codes = manifest.codes

    async def encode_text(texts: list[str]) -> list[Any]:
        envelopes = [envelope] * len(texts)
        return await encode_texts(backend, store, envelopes, texts, [manifest.version] * len(texts))

    async def encode_image(images: list[Image.Image]) -> list[Any]:
        envelopes = [envelope] * len(images)
        return await encode_images(backend, store, envelopes, images, [manifest.version] * len(images))

    async def classify(pairs: list[tuple[Any, Any]]) -> np.ndarray:
        results = await classify_pairs(store, [Pair(t, i) for t, i in pairs], len(codes))
        probs = np.zeros((len(pairs), len(codes)))
        for row, result in enumerate(results):
            if not isinstance(result, ListingClassified):
                raise ValueError(result.reason)
            for score in result.top_k:
                probs[row, codes.index(score.prdtypecode)] = score.probability
        return probs

    return ServedModels(
        version=manifest.version,
        labels=[(label.prdtypecode, label.name) for label in manifest.labels],
        encode_text=encode_text,
        encode_image=encode_image,
        classify=classify,
        text_models=len(manifest.text_models),
        image_models=len(manifest.image_models),
    )


class OnlineExplainer:
    """Explains offers and stored listings (create once; shares an :class:`OnlineClassifier`)."""

    def __init__(self, settings: Settings, classifier: OnlineClassifier | None = None) -> None:
        self.settings = settings
        self._owns_classifier = classifier is None
        self.classifier = classifier or OnlineClassifier(settings)
        self.store = self.classifier.store
        self.options = ExplainOptions(
            grid=settings.explain_grid,
            max_words=settings.explain_max_words,
            batch_size=settings.batch_size,
            top_k=settings.top_k,
        )

    async def _manifest(self, version: str | None) -> Manifest:
        if version:
            try:
                return await self.store.by_version(version)
            except (FileNotFoundError, LookupError):
                pass  # that revision is gone from disk: explain with the current one
        return await self.store.current()

    async def explain(
        self,
        title: str | None,
        description: str | None = None,
        image: bytes | Image.Image | ImageProblem | None = None,
        *,
        model_version: str | None = None,
        listing_id: str = "online",
    ) -> Explanation:
        """Explanation of one offer (``image`` as bytes, a decoded photo or the reason it is missing)."""
        manifest = await self._manifest(model_version)
        submitted = ListingSubmitted.new(listing_id, title=title or "", description=description)
        preparer = await asyncio.to_thread(self.classifier.preparer)
        prepared = (await preparer.prepare([submitted]))[0]
        if isinstance(image, bytes):
            # Decoded as served (draft mode down to the model's input), so the probabilities agree.
            image = await asyncio.to_thread(decode, image, self.settings, None, decode_target(manifest))
        photo = image if isinstance(image, Image.Image) else None
        missing = image.reason if isinstance(image, ImageProblem) else None if photo else "no_image"
        text = prepared.text_fr or prepared.text
        result = await explain_offer(served_models(self.classifier, manifest), text, photo, self.options)
        return result.model_copy(
            update={
                "listing_id": listing_id,
                "language": prepared.language.code,
                "translation_status": prepared.translation.status,
                "image_missing_reason": missing,
            }
        )

    async def explain_listing(self, listing: dict[str, Any]) -> Explanation:
        """Explanation of a stored listing (``listing_detail``'s fields), under its own model version."""
        uri = listing.get("image_uri")
        async with http_client(self.settings) as client:
            raw = await fetch_image_bytes(uri, self.settings, client)
        result = await self.explain(
            listing.get("title"),
            listing.get("description"),
            raw,
            model_version=listing.get("model_version"),
            listing_id=str(listing.get("listing_id")),
        )
        return result.model_copy(update={"submission_id": listing.get("submission_id")})

    async def close(self) -> None:
        if self._owns_classifier:
            await self.classifier.close()
