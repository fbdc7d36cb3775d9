"""The promotion gate's held-out figures, measured on the same rows for both revisions.

Each manifest records the weighted F1 its revision scored on its own held-out split at training
time. Two revisions trained on different data (the retraining flow: ``catalog export-labels``,
then ``catalog train`` on the changed catalog) or with other split settings were measured on
different rows, so those figures do not compare. Here (the composition root: training code is
allowed, ``shared`` may not import it) both revisions are re-scored, with the evaluation code
``catalog evaluate`` uses (ONNX Runtime + fusion, as served), on the **common held-out rows**:

- the candidate's held-out rows (``training/<rev>/split.json`` ``test``, in the catalog it was
  trained on, ``manifest.training["data_dir"]``; the catalog must still be the one the split was
  made on: same fingerprint);
- minus every row the current revision trained on (its own split file's ``train`` rows, read from
  its own catalog). Catalogs are compared by content, not by row id (row ids are positions in a
  CSV and mean nothing across catalogs): a row is left out when the current revision trained on
  an offer with the same product id or the same text (casefolded), the duplicates the split
  itself keeps on one side.

The labels of the candidate's catalog are the truth for both. When the data cannot be read, or
fewer than ``CATALOG_PROMOTION_MIN_HELD_OUT_ROWS`` common rows remain, the gate compares the
recorded figures and its report says so (``basis``, ``note``, a reason). More than
``CATALOG_PROMOTION_MAX_HELD_OUT_ROWS`` common rows are sampled down to that many (fixed by the
row ids; ``sampled_from`` in the report). The figures go to
:func:`shared.promotion.promote` as plain values (:class:`shared.promotion.HeldOutFigures`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.config import Settings
from shared.lifecycle import current_version
from shared.model_repo import Manifest, find_manifest_by_version
from shared.promotion import (
    RECORDED_DATA_UNAVAILABLE,
    RECORDED_TOO_FEW_ROWS,
    HeldOutFigures,
    recorded_figures,
    rescored_basis,
    same_split,
)
from shared.text_preparation import TextPreparer, check_text_preparation, trained_translated

if TYPE_CHECKING:
    from training.data import Catalog

DEFAULT_MAX_CHARS = 5000


class DataUnavailable(Exception):
    """The rows both revisions were trained and evaluated on cannot be read back."""


@dataclass
class CommonRows:
    data_dir: Path
    row_ids: list[str]
    candidate_held_out: int
    excluded: int


def _max_chars(manifest: Manifest) -> int:
    return int((manifest.training.get("profile") or {}).get("max_chars", DEFAULT_MAX_CHARS))


def _split_file(repository: Path, manifest: Manifest) -> dict[str, Any]:
    name = manifest.training.get("split_file")
    path = repository / str(name) if name else None
    if path is None or not path.is_file():
        raise DataUnavailable(
            f"{manifest.version} has no saved split ({name or 'no split_file in its manifest'})"
        )
    try:
        saved: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise DataUnavailable(f"the split file of {manifest.version} ({name}) cannot be read: {exc}") from exc
    return saved


def _catalog(manifest: Manifest, max_chars: int, fingerprint: str | None) -> Catalog:
    """The catalog ``manifest`` was trained on, as it was then (same fingerprint)."""
    from training.data import load_catalog

    data_dir = manifest.training.get("data_dir")
    if not data_dir:
        raise DataUnavailable(f"{manifest.version} records no data_dir")
    try:
        catalog = load_catalog(Path(data_dir), max_chars, require_labels=True)
    except (OSError, ValueError) as exc:
        raise DataUnavailable(f"the data of {manifest.version} ({data_dir}) cannot be read: {exc}") from exc
    if fingerprint is not None and catalog.fingerprint != fingerprint:
        raise DataUnavailable(
            f"{data_dir} changed since {manifest.version} was trained on it "
            f"(fingerprint {catalog.fingerprint}, split made on {fingerprint})"
        )
    return catalog


def _identities(catalog: Catalog, index: int) -> set[tuple[str, str]]:
    keys = set()
    if catalog.product_ids[index]:
        keys.add(("product", catalog.product_ids[index]))
    if catalog.texts[index]:
        keys.add(("text", catalog.texts[index].casefold()))
    return keys


def common_rows(repository: Path, candidate: Manifest, current: Manifest) -> CommonRows:
    """The candidate's held-out rows the current revision did not train on (by content)."""
    candidate_split = _split_file(repository, candidate)
    current_split = _split_file(repository, current)
    chars = max(_max_chars(candidate), _max_chars(current))  # identity: the longer text
    catalog = _catalog(candidate, chars, candidate_split.get("fingerprint"))
    position = {row: i for i, row in enumerate(catalog.row_ids)}
    held_out = [row for row in candidate_split.get("test", []) if row in position]
    if len(held_out) != len(candidate_split.get("test", [])):
        raise DataUnavailable(f"rows of the candidate's held-out split are missing from {catalog.data_dir}")
    same_data = str(current.training.get("data_dir")) == str(candidate.training.get("data_dir")) and (
        current_split.get("fingerprint") == candidate_split.get("fingerprint")
    )
    theirs = catalog if same_data else _catalog(current, chars, current_split.get("fingerprint"))
    their_position = {row: i for i, row in enumerate(theirs.row_ids)}
    trained: set[tuple[str, str]] = set()
    for row in current_split.get("train", []):
        if row not in their_position:
            raise DataUnavailable(f"rows the current revision trained on are missing from {theirs.data_dir}")
        trained |= _identities(theirs, their_position[row])
    kept = [row for row in held_out if not (_identities(catalog, position[row]) & trained)]
    return CommonRows(catalog.data_dir, kept, len(held_out), len(held_out) - len(kept))


PreparerFor = Callable[[Manifest], TextPreparer]


def sample_rows(row_ids: list[str], max_rows: int | None) -> list[str]:
    """At most ``max_rows`` of ``row_ids``, the same ones on every run and machine (the rows whose
    ids hash lowest, in their original order): both revisions are scored on one sample, and a
    repeated promotion re-scores the same rows."""
    if max_rows is None or len(row_ids) <= max_rows:
        return row_ids
    keep = set(sorted(row_ids, key=lambda row: hashlib.sha256(row.encode("utf-8")).digest())[:max_rows])
    return [row for row in row_ids if row in keep]


def score_rows(
    repository: Path,
    manifest: Manifest,
    data_dir: Path,
    row_ids: list[str],
    max_pixels: int,
    preparer: TextPreparer,
) -> float:
    """``manifest``'s fusion weighted F1 on ``row_ids`` of ``data_dir`` (as ``catalog evaluate``
    scores: its own text length cap and language step, ONNX Runtime, its fusion)."""
    import numpy as np

    from training.data import load_catalog
    from training.evaluate import evaluate_rows

    check_text_preparation(manifest, bool(preparer.describe().get("translated")))
    catalog = load_catalog(data_dir, _max_chars(manifest), require_labels=True)
    position = {row: i for i, row in enumerate(catalog.row_ids)}
    rows = np.array([position[row] for row in row_ids], dtype=np.int64)
    if manifest.text_models:  # only the scored rows go through the language step
        prepared = preparer.prepare([catalog.texts[i] for i in rows]).texts
        for i, text in zip(rows, prepared, strict=True):
            catalog.texts[i] = text
    report = evaluate_rows(repository, manifest, catalog, rows, max_pixels)
    return float(report.metrics["fusion"]["weighted_f1"])


def rescore(
    repository: Path,
    candidate: Manifest,
    current: Manifest,
    *,
    min_rows: int,
    max_pixels: int,
    preparer_for: PreparerFor,
    max_rows: int | None = None,
) -> HeldOutFigures:
    """Both revisions' weighted F1 on their common held-out rows (at most ``max_rows`` of them,
    :func:`sample_rows`), or the recorded figures with the reason why not."""
    try:
        common = common_rows(repository, candidate, current)
    except DataUnavailable as exc:
        return recorded_figures(candidate, current, RECORDED_DATA_UNAVAILABLE, str(exc))
    details = {
        "data_dir": str(common.data_dir),
        "candidate_held_out_rows": common.candidate_held_out,
        "excluded_trained_by_current": common.excluded,
    }
    if len(common.row_ids) < min_rows:
        figures = recorded_figures(
            candidate,
            current,
            RECORDED_TOO_FEW_ROWS,
            f"{len(common.row_ids)} of the candidate's {common.candidate_held_out} held-out rows remain "
            f"once the {common.excluded} the current revision trained on are left out (< {min_rows})",
        )
        return replace(figures, details=details)
    rows = sample_rows(common.row_ids, max_rows)
    if len(rows) < len(common.row_ids):
        details["sampled_from"] = len(common.row_ids)
    try:
        scored = [
            score_rows(repository, m, common.data_dir, rows, max_pixels, preparer_for(m))
            for m in (candidate, current)
        ]
    except Exception as exc:  # reported in the gate's report, not silent
        return recorded_figures(
            candidate, current, RECORDED_DATA_UNAVAILABLE, f"re-scoring failed ({type(exc).__name__}: {exc})"
        )
    return HeldOutFigures(scored[0], scored[1], rescored_basis(len(rows)), len(rows),
                          details=details)  # fmt: skip


def held_out_figures(
    settings: Settings, version: str, *, preparer_for: PreparerFor | None = None
) -> HeldOutFigures | None:
    """The figures for promoting ``version``: ``None`` when there is nothing to re-score (nothing
    else current, an unknown version, or the same split: the recorded figures are on the same
    rows), else :func:`rescore`'s."""
    repository = settings.model_repository
    current_v = current_version(repository)
    if current_v is None or current_v == version:
        return None
    try:
        candidate = find_manifest_by_version(repository, version)
        current = find_manifest_by_version(repository, current_v)
    except (LookupError, OSError, ValueError):
        return None  # the gate reports it
    if same_split(candidate, current):
        return None
    return rescore(
        repository,
        candidate,
        current,
        min_rows=settings.promotion_min_held_out_rows,
        max_rows=settings.promotion_max_held_out_rows,
        max_pixels=settings.image_max_pixels,
        preparer_for=preparer_for or _serving_preparer(settings),
    )


def _serving_preparer(settings: Settings) -> PreparerFor:
    """Each revision's texts go through the language step it was trained with."""
    from services.cli.commands.training import text_preparer

    def preparer_for(manifest: Manifest) -> TextPreparer:
        return text_preparer(settings, "on" if trained_translated(manifest) else "off")  # type: ignore[return-value]

    return preparer_for
