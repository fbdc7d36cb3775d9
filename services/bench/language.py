"""``catalog bench language``: offers/s through the Preparer and through the worker on Redis.

Offers are synthetic (the marketplace mix: ~75% French, a third without description, some long
HTML descriptions) and deterministic for a given seed.
"""

from __future__ import annotations

import asyncio
import os
import platform
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from services.language.logic import Preparer
from shared.config import Settings
from shared.contract import ListingSubmitted

SAMPLES: dict[str, tuple[list[str], list[str]]] = {
    "fr": (
        ["Boîte neuve jamais ouverte", "Piscine tubulaire pour le jardin", "Jeu de société familial",
         "Livre de cuisine illustré", "Housse de protection pour canapé"],
        ["Produit en excellent état, livré avec sa notice.", "Idéal pour toute la famille.",
         "Livraison rapide et soignée.", "Matériaux de qualité, garantie deux ans."],
    ),
    "en": (
        ["Brand new box never opened", "Garden pool with filter pump", "Family board game",
         "Illustrated cookbook"],
        ["Complete with manual and accessories.", "Great for the whole family.",
         "Fast shipping and careful packaging."],
    ),
    "de": (
        ["Neue Box, nie geöffnet", "Gartenpool mit Filterpumpe", "Familienspiel für alle"],
        ["Komplett mit Anleitung und Zubehör.", "Schneller Versand und sorgfältige Verpackung."],
    ),
    "it": (
        ["Scatola nuova mai aperta", "Piscina da giardino con pompa", "Gioco da tavolo per famiglie"],
        ["Completa di istruzioni e accessori.", "Spedizione veloce e imballaggio accurato."],
    ),
    "es": (
        ["Caja nueva nunca abierta", "Piscina de jardín con bomba", "Juego de mesa familiar"],
        ["Completa con manual y accesorios.", "Envío rápido y embalaje cuidadoso."],
    ),
}  # fmt: skip

MIX = [("fr", 0.75), ("en", 0.1), ("de", 0.05), ("it", 0.05), ("es", 0.05)]


def synthetic_offers(n: int, seed: int = 0) -> list[ListingSubmitted]:
    """``n`` offers in the marketplace's mix of languages and description lengths."""
    rng = random.Random(seed)
    languages = [lang for lang, _ in MIX]
    weights = [w for _, w in MIX]
    offers = []
    for i in range(n):
        lang = rng.choices(languages, weights)[0]
        titles, sentences = SAMPLES[lang]
        title = f"{rng.choice(titles)} {rng.randint(1, 9999)}"
        description: str | None = None
        roll = rng.random()
        if roll > 0.35:
            count = rng.randint(1, 6) if roll < 0.97 else rng.randint(60, 200)  # a few huge ones
            paragraphs = (
                f"<p>{rng.choice(sentences)} <b>{rng.randint(1, 99)}</b> &amp; co</p>" for _ in range(count)
            )
            description = "<div>" + "<br/>".join(paragraphs) + "</div>"
        offers.append(ListingSubmitted.new(str(1_000_000 + i), title=title, description=description))
    return offers


def rates(offers: int, wall_s: float, cpu_s: float) -> dict[str, Any]:
    """Offers per wall second and per CPU second (the single-core rate, robust to other load)."""
    return {
        "offers": offers,
        "wall_s": round(wall_s, 3),
        "cpu_s": round(cpu_s, 3),
        "offers_per_s": round(offers / wall_s, 1),
        "offers_per_cpu_s": round(offers / cpu_s, 1) if cpu_s else None,
    }


async def bench_logic(
    settings: Settings, offers: list[ListingSubmitted], redis: Any | None = None
) -> dict[str, Any]:
    """Offers/s through :meth:`Preparer.prepare`, in batches of ``settings.batch_size``."""
    preparer = Preparer.from_settings(settings, redis)
    try:
        await preparer.prepare(offers[: settings.batch_size])  # model load, warm-up
        calls_before = preparer.translator.calls if preparer.translator else 0
        statuses: dict[str, int] = {}
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for start in range(0, len(offers), settings.batch_size):
            for event in await preparer.prepare(offers[start : start + settings.batch_size]):
                statuses[event.translation.status] = statuses.get(event.translation.status, 0) + 1
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        calls = (preparer.translator.calls if preparer.translator else 0) - calls_before
    finally:
        preparer.close()
    return {
        **rates(len(offers), wall, cpu),
        "translation_calls": calls,
        "translation_status": statuses,
    }


async def bench_worker(
    settings: Settings, offers: list[ListingSubmitted], timeout_s: float = 600
) -> dict[str, Any]:
    """Offers/s through the real worker on Redis: publish the backlog, time until all prepared."""
    from services.language.worker import create_worker
    from shared.broker import EventPublisher
    from shared.contract import Stream

    async with EventPublisher(settings) as pub:
        await pub.publish(Stream.SUBMITTED, offers)
        prepared_key = settings.key(Stream.PREPARED)
        worker = create_worker(settings)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        async with worker.running():
            while (done := await pub.redis.xlen(prepared_key)) < len(offers):
                if time.perf_counter() - wall0 > timeout_s:
                    raise TimeoutError(f"only {done}/{len(offers)} prepared after {timeout_s} s")
                await asyncio.sleep(0.05)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        keys = [k async for k in pub.redis.scan_iter(match=f"{settings.stream_prefix}*", count=1000)]
        if keys:
            await pub.redis.delete(*keys)
    return {
        **rates(len(offers), wall, cpu),
        "batch_size": settings.batch_size,
    }


@contextmanager
def translator_settings(
    base: Settings, translator: str, rate_limit: float, standin_url: str | None
) -> Iterator[Settings]:
    """Settings for one bench mode; ``standin`` translates through the server at ``standin_url``
    (Google's protocol: the offline stand-in of tools/standins, started by the caller)."""
    if translator == "none":
        yield base.model_copy(update={"translator": "none"})
        return
    if not standin_url:
        raise ValueError("the standin mode needs the URL of a translation server")
    yield base.model_copy(
        update={
            "translator": "google",
            "translator_url": standin_url,
            "translation_rate_limit_per_s": rate_limit,
        }
    )


def run_bench(
    base: Settings,
    n: int,
    translators: list[str],
    worker: bool,
    rate_limit: float,
    standin_url: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every requested mode; the result is the JSON the command writes."""
    offers = synthetic_offers(n)
    results: dict[str, Any] = {
        "benchmark": "language",
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0)),
            "load_avg_1m_before": round(os.getloadavg()[0], 2),
        },
        "n": n,
        "batch_size": base.batch_size,
        "modes": {},
    }
    for translator in translators:
        with translator_settings(base, translator, rate_limit, standin_url) as settings:
            progress(f"logic, translator={translator}")
            mode: dict[str, Any] = {"logic": asyncio.run(bench_logic(settings, offers))}
            if worker:
                progress(f"worker on Redis, translator={translator}")
                prefix = f"{base.stream_prefix}bench-{uuid.uuid4().hex[:8]}:"
                worker_settings = settings.model_copy(update={"stream_prefix": prefix})
                mode["worker"] = asyncio.run(bench_worker(worker_settings, offers))
            results["modes"][translator] = mode
    results["machine"]["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    return results
