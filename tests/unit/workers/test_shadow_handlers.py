"""A shadow candidate through the real handlers: encoders attach its logits to the sampled live
offers, fusion emits a second prediction marked shadow, the writer stores it and never lets it
become a listing's current category."""

from __future__ import annotations

from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy import select

from services.fusion import worker as fusion
from services.image_encoder import worker as image_encoder
from services.image_encoder.images import ImageSettings
from services.language import worker as language
from services.language.logic import Preparer
from services.text_encoder import worker as text_encoder
from services.writer import worker as writer
from shared.contract import ListingClassified, ListingSubmitted, Origin, Stream
from shared.db.models import Listing, Prediction
from shared.db.quality import shadow_agreement
from shared.db.session import session_scope
from shared.inference.backend import LocalBackend
from shared.inference.store import ModelStore
from shared.lifecycle.state import set_shadow
from shared.ml.model_repo import Manifest, read_manifest
from tests.ledger import record
from tests.unit.inference.repo_fixture import build_repository
from tests.unit.workers.fakes import MemoryJoiner, MemoryPins
from tests.unit.workers.test_handlers import emitted, settings_for


async def test_shadow_predictions_are_stored_and_never_current(
    model_repo: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, live = model_repo
    candidate = build_repository(root, revision=2, seed=9, current=False)
    assert read_manifest(root).version == live.version  # a candidate is not live
    set_shadow(root, candidate.version, share=1.0, by="test")
    settings = settings_for(root)
    backend = LocalBackend(root)
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (40, 40), (20, 200, 30)).save(photo)
    offers = [
        ListingSubmitted.new("a", title="un livre roman", image_uri=f"file://{photo}"),
        ListingSubmitted.new("b", title="lego", image_uri=None),
        ListingSubmitted.new("c", title="piscine", origin=Origin(kind="reclassify")),  # not live traffic
    ]
    prepared = emitted(
        await language.prepare(offers, language.Deps(Preparer.from_settings(settings))), Stream.PREPARED
    )
    pins = MemoryPins()
    text_deps = text_encoder.Deps(pins, backend, ModelStore(root, backend, ("text",), 0))
    text = emitted(await text_encoder.encode(prepared, text_deps), Stream.TEXT_FEATURES)
    async with httpx.AsyncClient() as http:
        image_deps = image_encoder.Deps(
            ImageSettings.of(settings),
            pins,
            http,
            backend,
            ModelStore(root, backend, ("image",), 0),
            max_skew_s=300.0,
        )
        image = emitted(await image_encoder.encode(offers, image_deps), Stream.IMAGE_FEATURES)
    assert [t.shadow is not None for t in text] == [True, True, False]
    assert [i.shadow is not None for i in image] == [True, False, False]  # b has no photo
    assert {t.shadow.model_version for t in text if t.shadow} == {candidate.version}

    store = ModelStore(root, poll_interval_s=0)
    deps = fusion.Deps(MemoryJoiner(), store, settings.top_k)
    assert await fusion.on_text(text, deps) == []
    classified: list[ListingClassified] = emitted(await fusion.on_image(image, deps), Stream.CLASSIFIED)
    live_events = [c for c in classified if not c.shadow]
    shadow_events = [c for c in classified if c.shadow]
    assert sorted(c.listing_id for c in live_events) == ["a", "b", "c"]
    assert {c.model_version for c in live_events} == {live.version}
    assert sorted(c.listing_id for c in shadow_events) == ["a", "b"]
    assert {c.model_version for c in shadow_events} == {candidate.version}
    by_listing = {c.listing_id: c for c in live_events}
    assert all(s.shadow_of == by_listing[s.listing_id].submission_id for s in shadow_events)
    assert shadow_events[0].submission_id != shadow_events[0].shadow_of

    url = f"sqlite:///{tmp_path / 'w.db'}"
    store_deps = await writer.open_deps(settings.model_copy(update={"database_url": url}), redis=None)  # type: ignore[arg-type]
    record(url, live_events)  # as the API (or the language worker, on entry) would have
    # the shadow rows arrive last and are the newest: they must still not become current
    await writer.store(live_events, store_deps)
    await writer.store(shadow_events, store_deps)
    await writer.store(shadow_events, store_deps)  # redelivered: nothing twice
    with session_scope(url) as session:
        listings = {row.listing_id: row for row in session.scalars(select(Listing))}
        rows = session.scalars(select(Prediction)).all()
        agreement = shadow_agreement(session)
    assert len(rows) == 5 and sum(r.shadow for r in rows) == 2
    assert {lid: listing.current_model_version for lid, listing in listings.items()} == {
        "a": live.version,
        "b": live.version,
        "c": live.version,
    }
    assert all(
        listing.current_submission_id == by_listing[lid].submission_id for lid, listing in listings.items()
    )
    (pair,) = agreement["pairs"]
    assert (pair["live_version"], pair["shadow_version"], pair["compared"]) == (
        live.version,
        candidate.version,
        2,
    )


async def test_a_failing_shadow_never_fails_the_live_batch(model_repo: tuple[Path, Manifest]) -> None:
    root, live = model_repo
    candidate = build_repository(root, revision=2, seed=9, current=False)
    set_shadow(root, candidate.version, share=1.0)
    (root / "text_tiny" / "2" / "model.onnx").write_bytes(b"not a model")
    settings = settings_for(root)
    backend = LocalBackend(root)
    prepared = emitted(
        await language.prepare(
            [ListingSubmitted.new("a", title="un livre")], language.Deps(Preparer.from_settings(settings))
        ),
        Stream.PREPARED,
    )
    deps = text_encoder.Deps(MemoryPins(), backend, ModelStore(root, backend, ("text",), 0))
    (features,) = emitted(await text_encoder.encode(prepared, deps), Stream.TEXT_FEATURES)
    assert features.status == "ok" and features.model_version == live.version and features.shadow is None
