"""The one list of worker kinds. Everything that enumerates workers derives from it.

``catalog worker NAME``, ``catalog up`` (the supervisor), ``catalog status``, the AsyncAPI
document (built from the workers' real subscribers), docker-compose and the Kubernetes
manifests (``python -m deploy.render``) all read :data:`WORKERS`; a test checks that
every registered kind is present in each deployment file.
"""

from __future__ import annotations

from collections.abc import Callable

from services.fusion import worker as fusion
from services.image_encoder import worker as image_encoder
from services.language import worker as language
from services.reclassify import worker as reclassify
from services.reconciler import worker as reconciler
from services.text_encoder import worker as text_encoder
from services.writer import worker as writer
from shared.broker import WorkerApp, WorkerSpec
from shared.config import Settings
from shared.contract import Stream

# Pipeline order: a submitted offer passes them in this order (language and image-encoder in
# parallel); reclassify and reconciler consume no stream (they poll SQL and feed the pipeline).
_MODULES = (language, image_encoder, text_encoder, fusion, writer, reclassify, reconciler)

WORKERS: dict[str, WorkerSpec[object]] = {m.SPEC.name: m.SPEC for m in _MODULES}
FACTORIES: dict[str, Callable[[Settings], WorkerApp]] = {m.SPEC.name: m.create_worker for m in _MODULES}


def worker_names() -> list[str]:
    return list(WORKERS)


def consumers_of(stream: Stream) -> list[str]:
    """Consumer groups (worker kinds) reading ``stream``."""
    return [spec.name for spec in WORKERS.values() if any(c.stream == stream for c in spec.consumes)]


def streams_of(name: str) -> list[Stream]:
    return [c.stream for c in WORKERS[name].consumes]


def parse_replicas(items: list[str]) -> dict[str, int]:
    """``KIND=N`` options (``catalog up``, the pipeline benchmarks) as counts per known kind."""
    counts: dict[str, int] = {}
    for item in items:
        kind, _, n = item.partition("=")
        if kind not in WORKERS or not n.isdigit() or int(n) < 1:
            raise ValueError(f"--replicas expects KIND=N with a known kind, got {item!r}")
        counts[kind] = int(n)
    return counts


def create_worker(name: str, settings: Settings) -> WorkerApp:
    """The worker app of kind ``name`` (``KeyError`` names the known kinds)."""
    if name not in FACTORIES:
        raise KeyError(f"unknown worker {name!r}; choose one of {', '.join(WORKERS)}")
    app = FACTORIES[name](settings)
    # Streams are trimmed only once every kind reading them has acknowledged an entry.
    app.expected_groups = {c.stream: set(consumers_of(c.stream)) for c in WORKERS[name].consumes}
    return app
