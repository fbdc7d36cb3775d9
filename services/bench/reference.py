"""The two references the pipeline is judged against, run on the same models and offers.

- the **limit**: one process, large batches, no queue, no Redis, no SQL: language detection,
  text encoding, photo loading and decoding, image encoding and fusion, each stage on the whole
  batch through the workers' own functions. The pipeline cannot beat this by much on the same
  cores (it may a little: its processes overlap stages);
- the **naive** way: one offer at a time through detect, encode text, encode image, fuse and
  insert (one SQL transaction per offer), as a straightforward script would.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx

from services.bench.cpu import counted, per_offer_ms
from services.fusion.classify import Pair, Unclassified, classify_pairs
from services.image_encoder.encode import encode_images
from services.image_encoder.images import load_images
from services.language.logic import Preparer
from services.text_encoder.encode import encode_texts
from services.writer.worker import write_batch
from shared.config import Settings
from shared.contract import ListingClassified, ListingSubmitted
from shared.inference.factory import create_backend
from shared.inference.store import ModelStore
from shared.ml.preprocess import decode_target


class Reference:
    """The models loaded once, and one pass over offers in batches of ``batch``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.backend = create_backend(settings)
        self.store = ModelStore(settings.model_repository, self.backend, ("text", "image"), 3600)
        self.preparer = Preparer.from_settings(settings, redis=None)
        self.cpu: dict[str, float] = {}
        """CPU seconds per stage (the worker kind that runs it) since the last reset."""

    async def run(
        self, events: Sequence[ListingSubmitted], batch: int, database_url: str | None = None
    ) -> list[ListingClassified]:
        """Every offer through every stage, ``batch`` at a time (written when a URL is given)."""
        manifest = await self.store.current()
        target = decode_target(manifest)
        results: list[ListingClassified] = []
        async with httpx.AsyncClient() as client:
            for start in range(0, len(events), batch):
                part = list(events[start : start + batch])
                versions = [manifest.version] * len(part)
                with counted(self.cpu, "language"):
                    prepared = await self.preparer.prepare(part)
                with counted(self.cpu, "text-encoder"):
                    texts = await encode_texts(
                        self.backend, self.store, prepared, [p.text_fr or p.text for p in prepared], versions
                    )
                with counted(self.cpu, "image-encoder"):
                    images = await load_images([e.image_uri for e in part], self.settings, client, target)
                    photos = await encode_images(self.backend, self.store, part, images, versions)
                pairs = [Pair(t, i) for t, i in zip(texts, photos, strict=True)]
                with counted(self.cpu, "fusion"):
                    outcomes = await classify_pairs(self.store, pairs, self.settings.top_k)
                done = [r for r in outcomes if not isinstance(r, Unclassified)]
                if database_url is not None:
                    write_batch(database_url, done)
                results.extend(done)
        return results

    async def close(self) -> None:
        self.preparer.close()
        await self.backend.close()


async def measure(
    settings: Settings,
    events: Sequence[ListingSubmitted],
    limit_batch: int,
    naive_offers: int,
    database_url: str,
) -> dict[str, Any]:
    """Offers/s of the limit (all offers) and of the naive way (the first ``naive_offers``)."""
    reference = Reference(settings)
    try:
        await reference.run(events[: min(len(events), limit_batch)], limit_batch)  # warm-up
        reference.cpu.clear()
        started, cpu_started = time.perf_counter(), time.process_time()
        done = await reference.run(events, limit_batch)
        limit_s = time.perf_counter() - started
        limit_cpu_s = time.process_time() - cpu_started
        stage_cpu = dict(reference.cpu)
        sample = list(events[: max(1, min(naive_offers, len(events)))])
        warm = [e.model_copy(update={"submission_id": uuid.uuid4()}) for e in sample[:2]]
        await reference.run(warm, 1, database_url)  # warm-up (and the first connection)
        started = time.perf_counter()
        naive = await reference.run(sample, 1, database_url)
        naive_s = time.perf_counter() - started
    finally:
        await reference.close()
    return {
        "limit_throughput": round(len(done) / limit_s, 2),
        "limit_seconds": round(limit_s, 2),
        "limit_batch": limit_batch,
        "limit_cpu_ms_per_offer": {
            **{stage: per_offer_ms(s, len(done)) for stage, s in stage_cpu.items()},
            "total": per_offer_ms(limit_cpu_s, len(done)),
        },
        "naive_throughput": round(len(naive) / naive_s, 2),
        "naive_seconds": round(naive_s, 2),
        "naive_offers": len(naive),
    }
