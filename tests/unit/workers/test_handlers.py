"""Each worker's module-level handler called with plain arguments: no Redis, no broker.

The handlers' Redis-backed dependencies (version pins, the fusion join) are replaced by the
in-memory adapters of ``fakes.py``; models are a tiny real repository on ONNX Runtime, and the
writer writes to a real SQLite file.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy import func, select

from services.fusion import worker as fusion
from services.image_encoder import worker as image_encoder
from services.image_encoder.images import ImageSettings
from services.language import worker as language
from services.language.logic import Preparer
from services.text_encoder import worker as text_encoder
from services.writer import worker as writer
from shared.broker import Emit, Reject
from shared.config import Settings
from shared.contract import (
    ImageFeatures,
    ListingClassified,
    ListingPrepared,
    ListingSubmitted,
    Stream,
    TextFeatures,
)
from shared.db.models import Prediction
from shared.db.session import session_scope
from shared.inference.backend import LocalBackend
from shared.inference.store import ModelStore
from shared.ml.model_repo import Manifest
from tests.ledger import record, versions_repository
from tests.support.factories import classified_event
from tests.unit.workers.fakes import MemoryJoiner, MemoryPins


def settings_for(root: Path, **extra: object) -> Settings:
    return Settings(model_repository=root, translator="none", image_roots=[root.parent], **extra)  # type: ignore[arg-type]


def emitted(outcomes: list[Emit | Reject], stream: Stream) -> list:  # type: ignore[type-arg]
    assert all(isinstance(o, Emit) and o.stream == stream for o in outcomes), outcomes
    return [o.event for o in outcomes if isinstance(o, Emit)]


async def test_language_handler_prepares_each_offer_in_order(tmp_path: Path) -> None:
    deps = language.Deps(Preparer.from_settings(settings_for(tmp_path)))
    events = [
        ListingSubmitted.new("a", title="Chaise de jardin en bois", description="<p>Très <b>solide</b></p>"),
        ListingSubmitted.new("b", title="Wooden garden chair, very sturdy and easy to fold"),
    ]
    prepared = emitted(await language.prepare(events, deps), Stream.PREPARED)
    assert [p.listing_id for p in prepared] == ["a", "b"]
    assert all(isinstance(p, ListingPrepared) for p in prepared)
    assert prepared[0].language.code == "fr" and "<b>" not in prepared[0].text
    assert prepared[1].language.code == "en"
    assert prepared[1].translation.status != "translated"  # translator "none"


async def test_text_encoder_handler_pins_one_version_and_encodes(model_repo: tuple[Path, Manifest]) -> None:
    root, manifest = model_repo
    backend = LocalBackend(root)
    store = ModelStore(root, backend, ("text",), poll_interval_s=0)
    pins = MemoryPins()
    deps = text_encoder.Deps(pins, backend, store)
    submitted = [ListingSubmitted.new("a", title="un livre roman"), ListingSubmitted.new("b", title="")]
    prepared = [
        emitted(
            await language.prepare([s], language.Deps(Preparer.from_settings(settings_for(root)))),
            Stream.PREPARED,
        )[0]
        for s in submitted
    ]
    features = emitted(await text_encoder.encode(prepared, deps), Stream.TEXT_FEATURES)
    assert [f.status for f in features] == ["ok", "missing"]
    assert {f.model_version for f in features} == {manifest.version}
    assert set(pins.pins) == {s.submission_id for s in submitted}
    assert [o.model for o in features[0].outputs] == [m.name for m in manifest.text_models]


async def test_image_encoder_handler_marks_unusable_photos_missing(model_repo: tuple[Path, Manifest]) -> None:
    root, manifest = model_repo
    photo = root.parent / "photo.jpg"
    Image.new("RGB", (40, 40), (200, 30, 30)).save(photo)
    backend = LocalBackend(root)
    store = ModelStore(root, backend, ("image",), poll_interval_s=0)
    async with httpx.AsyncClient() as http:
        deps = image_encoder.Deps(
            ImageSettings.of(settings_for(root)), MemoryPins(), http, backend, store, max_skew_s=300.0
        )
        events = [
            ListingSubmitted.new("a", title="x", image_uri=f"file://{photo}"),
            ListingSubmitted.new("b", title="y", image_uri=None),
            ListingSubmitted.new("c", title="z", image_uri=f"file://{root.parent / 'absent.jpg'}"),
        ]
        features = emitted(await image_encoder.encode(events, deps), Stream.IMAGE_FEATURES)
    assert [f.status for f in features] == ["ok", "missing", "missing"]
    assert [f.reason for f in features[1:]] == ["no_image", "not_found"]
    assert len(features[0].outputs) == len(manifest.image_models)


async def test_fusion_handler_classifies_once_both_halves_arrived(model_repo: tuple[Path, Manifest]) -> None:
    root, manifest = model_repo
    settings = settings_for(root)
    store = ModelStore(root, poll_interval_s=0)
    store.fusion(await store.current())
    deps = fusion.Deps(MemoryJoiner(), store, settings.top_k)
    backend = LocalBackend(root)
    offer = ListingSubmitted.new("a", title="un livre roman", image_uri=None)
    enc_deps = text_encoder.Deps(MemoryPins(), backend, ModelStore(root, backend, ("text",), 0))
    prepared = emitted(
        await language.prepare([offer], language.Deps(Preparer.from_settings(settings))), Stream.PREPARED
    )
    text_half = emitted(await text_encoder.encode(prepared, enc_deps), Stream.TEXT_FEATURES)
    assert isinstance(text_half[0], TextFeatures)
    image_half = ImageFeatures(
        **offer.stamped("image_encoded").envelope(),
        model_version=manifest.version,
        status="missing",
        reason="no_image",
    )
    assert await fusion.on_text(text_half, deps) == []  # waiting for the image half
    classified = emitted(await fusion.on_image([image_half], deps), Stream.CLASSIFIED)
    assert len(classified) == 1 and isinstance(classified[0], ListingClassified)
    assert classified[0].listing_id == "a" and classified[0].prdtypecode in manifest.codes
    assert await fusion.on_image([image_half], deps) == []  # a duplicate half classifies nothing


async def test_writer_handler_stores_a_batch_idempotently(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    repo = versions_repository(tmp_path / "repo", "r1")
    deps = await writer.open_deps(Settings(database_url=url, model_repository=repo), redis=None)  # type: ignore[arg-type]
    events = [classified_event("a", 10), classified_event("b", 2280)]
    record(url, events)
    assert await writer.store(events, deps) == []
    assert await writer.store(events, deps) == []  # redelivered: nothing twice
    with session_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == 2
