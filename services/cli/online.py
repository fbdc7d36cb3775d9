"""Classify one offer without the queue: the same code path as the workers, in-process.

Preparer (language worker) -> text encoding -> image encoding -> fusion, each through the
functions the workers call, so an online answer equals the pipeline's. Any subset of title,
description and photo works (nothing at all gives the training class prior). Used by
``catalog classify`` and the HTTP API's seller form::

    classifier = OnlineClassifier(settings)
    result = await asyncio.wait_for(classifier.classify("Lego 75192", None, photo), timeout=2)
    result.top_k  # best categories first
    await classifier.close()
"""

from __future__ import annotations

import asyncio
from typing import Any

from services.fusion.classify import Pair, classify_pairs
from services.image_encoder.encode import encode_images
from services.image_encoder.images import ImageProblem, decode
from services.language.logic import Preparer
from services.text_encoder.encode import encode_texts
from shared.config import Settings
from shared.contract import ListingClassified, ListingSubmitted
from shared.inference.backend import InferenceBackend
from shared.inference.factory import create_backend
from shared.inference.store import ModelStore
from shared.ml.preprocess import decode_target


class OnlineClassifier:
    """Holds the backend, models and language preparer across calls (create once, reuse)."""

    def __init__(self, settings: Settings, backend: InferenceBackend | None = None) -> None:
        self.settings = settings
        self._owns_backend = backend is None
        self.backend = backend or create_backend(settings)
        self.store = ModelStore(
            settings.model_repository, self.backend, ("text", "image"), settings.model_poll_interval_s
        )
        self._preparer: Preparer | None = None

    def preparer(self) -> Preparer:
        """The language worker's preparer (language detection, translation), built on first use
        and shared by every call (the explainer uses it too). Blocking the first time: it loads
        the language detector, so call it from a thread in async code."""
        if self._preparer is None:
            self._preparer = Preparer.from_settings(self.settings, redis=None)
        return self._preparer

    async def classify(
        self,
        title: str | None,
        description: str | None = None,
        image: bytes | None = None,
        listing_id: str = "online",
    ) -> ListingClassified:
        """The prediction for one offer (top_k has ``settings.top_k`` entries)."""
        submitted = ListingSubmitted.new(listing_id, title=title or "", description=description)
        manifest = await self.store.current()
        version = [manifest.version]
        preparer = await asyncio.to_thread(self.preparer)

        async def text_half() -> Any:
            prepared = (await preparer.prepare([submitted]))[0]
            return (
                await encode_texts(
                    self.backend,
                    self.store,
                    [prepared],
                    [prepared.text_fr or prepared.text],
                    version,
                    languages=[prepared.language.code],
                    translations=[prepared.translation.status],
                )
            )[0]

        async def image_half() -> Any:
            decoded = (
                await asyncio.to_thread(decode, image, self.settings, None, decode_target(manifest))
                if image
                else ImageProblem("no_image", "no photo given")
            )
            return (await encode_images(self.backend, self.store, [submitted], [decoded], version))[0]

        text, photo = await asyncio.gather(text_half(), image_half())
        result = (await classify_pairs(self.store, [Pair(text, photo)], self.settings.top_k))[0]
        if not isinstance(result, ListingClassified):
            raise ValueError(result.reason)
        return result

    async def close(self) -> None:
        if self._preparer is not None:
            self._preparer.close()
            self._preparer = None
        if self._owns_backend:
            await self.backend.close()
