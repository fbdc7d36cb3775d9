"""The model repository as running workers see it: current manifest, older revisions, caches.

Workers never restart for a new model: every batch asks :meth:`ModelStore.current`, which
re-reads ``manifest.json`` when it changed (checked at most every ``poll_interval_s``), checks
that the backend serves the new revision (the local backend loads it; on Triton the rollout
controller does), and only then makes it current; until then the previous revision stays
current. Older revisions stay reachable by version string (:meth:`by_version`) for events
pinned to them. The shadow candidate (``lifecycle.json``, shared.lifecycle) is followed the
same way (:meth:`shadow`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.lifecycle.state import LIFECYCLE, Shadow, read_state
from shared.ml.model_repo import MANIFEST, Manifest, TextModelSpec, find_manifest_by_version, read_manifest
from shared.ml.text_preparation import TextPreparationMismatch, check_text_preparation

if TYPE_CHECKING:
    from shared.inference.backend import InferenceBackend
    from shared.ml.preprocess import TextTokenizer

log = logging.getLogger(__name__)


class ModelStore:
    """Current and past manifests of one repository, plus per-version tokenizers and fusion."""

    def __init__(
        self,
        repository: Path,
        backend: InferenceBackend | None = None,
        kinds: tuple[str, ...] = (),
        poll_interval_s: float = 10.0,
        translated: bool | None = None,
    ) -> None:
        """``translated``: whether this process's text comes translated (CATALOG_TRANSLATOR is
        not none); a model trained under the other rule is refused (shared.ml.text_preparation).
        None skips the check (processes that never feed text)."""
        self.repository = Path(repository)
        self.translated = translated
        self.backend = backend
        self.kinds = kinds
        self.poll_interval_s = poll_interval_s
        self._current: Manifest | None = None
        self._stamp: tuple[int, int] | None = None
        self._checked_at = 0.0
        self._by_version: dict[str, Manifest] = {}
        self._tokenizers: dict[tuple[str, str], TextTokenizer] = {}
        self._fusion: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._shadow: Shadow | None = None
        self._shadow_stamp: tuple[int, int] | None = None
        self._shadow_checked_at = 0.0

    def _manifest_stamp(self) -> tuple[int, int]:
        stat = os.stat(self.repository / MANIFEST)
        return stat.st_mtime_ns, stat.st_size

    async def current(self) -> Manifest:
        """The current manifest, reloaded (and loaded into the backend) when it changed."""
        now = time.monotonic()
        if self._current is not None and now - self._checked_at < self.poll_interval_s:
            return self._current
        self._checked_at = now
        try:
            stamp = self._manifest_stamp()
        except FileNotFoundError:
            if self._current is not None:
                return self._current
            read_manifest(self.repository)  # raises the helpful error
            raise
        if self._current is not None and stamp == self._stamp:
            return self._current
        manifest = read_manifest(self.repository)
        if self.translated is not None:
            try:
                check_text_preparation(manifest, self.translated)
            except TextPreparationMismatch as exc:
                if self._current is None:
                    raise
                # Keep serving the revision that matched; say loudly why the new one is not used.
                log.error("model version refused", extra={"version": manifest.version, "error": str(exc)})
                self._stamp = stamp
                return self._current
        if self.backend is not None and self.kinds:
            try:
                await self.backend.ensure_loaded(manifest, self.kinds)
            except Exception as exc:
                if self._current is None:
                    raise
                log.warning(
                    "new model revision not served yet; staying on the current one",
                    extra={"version": manifest.version, "current": self._current.version, "error": str(exc)},
                )
                return self._current  # the stamp is not updated: checked again next poll
        if self._current is None or manifest.version != self._current.version:
            log.info(
                "model version active",
                extra={"version": manifest.version, "previous": self._current and self._current.version},
            )
        self._by_version[manifest.version] = manifest
        self._current, self._stamp = manifest, stamp
        return manifest

    async def by_version(self, version: str) -> Manifest:
        """The manifest of ``version`` (current or older), loaded into the backend if needed."""
        manifest = self._by_version.get(version)
        if manifest is None:
            manifest = find_manifest_by_version(self.repository, version)
            if self.backend is not None and self.kinds:
                await self.backend.ensure_loaded(manifest, self.kinds)
            self._by_version[version] = manifest
        return manifest

    async def shadow(self) -> tuple[Manifest, float] | None:
        """The shadow candidate's manifest (loaded into the backend) and its share of live
        offers, or None; ``lifecycle.json`` is re-read at most every ``poll_interval_s``."""
        now = time.monotonic()
        if self._shadow_checked_at == 0.0 or now - self._shadow_checked_at >= self.poll_interval_s:
            self._shadow_checked_at = now
            try:
                stat = os.stat(self.repository / LIFECYCLE)
                stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp != self._shadow_stamp:
                self._shadow = read_state(self.repository).shadow if stamp is not None else None
                self._shadow_stamp = stamp
        if self._shadow is None:
            return None
        current = await self.current()
        if self._shadow.version == current.version:
            return None
        return await self.by_version(self._shadow.version), self._shadow.share

    def tokenizer(self, manifest: Manifest, spec: TextModelSpec) -> TextTokenizer:
        from shared.ml.preprocess import TextTokenizer

        key = (manifest.version, spec.name)
        with self._lock:
            tokenizer = self._tokenizers.get(key)
            if tokenizer is None:
                tokenizer = TextTokenizer(self.repository, spec)
                self._tokenizers[key] = tokenizer
            return tokenizer

    def fusion(self, manifest: Manifest) -> Any:
        """The fusion model of ``manifest``'s revision (shared.ml.fusion.FusionModel)."""
        from shared.ml.fusion import FusionModel

        with self._lock:
            model = self._fusion.get(manifest.version)
            if model is None:
                model = FusionModel.load(self.repository, manifest)
                self._fusion[manifest.version] = model
            return model


async def warm_up(store: ModelStore) -> None:
    """Load the current models at worker start; a backend not up yet is retried per batch.

    (With compose, Triton may still be loading when the encoders start: their batches then
    fail and are redelivered instead of the worker crash-looping.)
    """
    from shared.inference.backend import InferenceError

    try:
        await store.current()
    except InferenceError as exc:
        log.warning("models not ready at start; retrying on the first batch", extra={"error": str(exc)})
