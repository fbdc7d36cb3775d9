"""Chooses the inference backend ``CATALOG_INFERENCE_BACKEND`` names (docs/architecture.md §5).

Kept apart from ``backend.py`` (the interface) so that ``triton.py`` can import the interface
while this module imports both implementations: no import cycle.
"""

from __future__ import annotations

from shared.config import Settings
from shared.inference.backend import InferenceBackend, LocalBackend
from shared.inference.triton import TritonBackend


def create_backend(settings: Settings) -> InferenceBackend:
    """The backend ``settings.inference_backend`` names.

    Importing tritonclient costs nothing here: ``TritonBackend`` loads it on first use.
    """
    if settings.inference_backend == "triton":
        return TritonBackend(settings.triton_url, settings.triton_protocol, settings.inference_timeout_s)
    return LocalBackend(settings.model_repository, threads=settings.inference_threads)
