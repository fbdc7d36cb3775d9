"""Attributions through the served code path on offers whose deciding piece is known by construction.

The tiny repository (conftest.py) classifies text by keywords and photos by colour spots, and its
fusion adds both. An offer made of filler words plus one keyword is decided by that keyword; a
noisy grey photo with one saturated cell (and a fainter spot of another class's colour elsewhere)
is decided by that cell.
The attribution must rank them first in most cases; the measured rate is asserted and printed.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
from PIL import Image

from services.cli.explaining import OnlineExplainer
from services.cli.online import OnlineClassifier
from services.explain.regions import cell_boxes
from services.language.logic import Preparer
from shared.config import Settings
from shared.ml.model_repo import Manifest
from tests.unit.inference.repo_fixture import LABELS, WORDS

KEYWORDS = WORDS[2:]
FILLER = ["superbe", "article", "neuf", "lot", "couleur", "taille", "très", "bon", "état", "modèle", "offre"]
GRID = 5


def settings(root: Path) -> Settings:
    return Settings(model_repository=root, translator="none", explain_grid=GRID, batch_size=16)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def noisy_photo(
    rng: np.random.Generator,
    cell: int,
    colour: tuple[int, int, int],
    faint: tuple[int, tuple[int, int, int]] | None = None,
    side: int = 100,
) -> bytes:
    """Grey noise, ``colour`` filling ``cell``, and optionally a half-strength spot (cell, colour)."""
    pixels = np.clip(rng.normal(128, 10, size=(side, side, 3)), 0, 255).astype(np.uint8)
    boxes = cell_boxes(side, side, GRID, GRID)
    if faint is not None:
        left, top, right, bottom = boxes[faint[0]]
        pixels[top : (top + bottom) // 2, left : (left + right) // 2] = [
            128 + (c - 128) // 2 for c in faint[1]
        ]
    left, top, right, bottom = boxes[cell]
    pixels[top:bottom, left:right] = colour
    return png(Image.fromarray(pixels))


async def test_keyword_ranks_first_and_base_equals_served_classification(
    model_repo: tuple[Path, Manifest],
) -> None:
    root, _ = model_repo
    r = random.Random(7)
    explainer = OnlineExplainer(settings(root))
    hits, total = 0, 40
    try:
        for _ in range(total):
            keyword = r.choice(KEYWORDS)
            words = r.sample(FILLER, r.randint(2, 6))
            words.insert(r.randint(0, len(words)), keyword.capitalize())
            title = " ".join(words)
            result = await explainer.explain(title, None, None)
            hits += result.words_for[0].word == keyword if result.words_for else 0
        # What is explained is what is served: same top-k as `catalog classify`, both modalities.
        photo = noisy_photo(np.random.default_rng(1), 12, (250, 10, 10))
        explained = await explainer.explain("Console de jeu lot", "<p>superbe</p>", photo)
        served = await OnlineClassifier.classify(
            explainer.classifier, "Console de jeu lot", "<p>superbe</p>", photo
        )
    finally:
        await explainer.close()
    rate = hits / total
    print(f"deciding keyword ranked first: {hits}/{total} = {rate:.0%}")
    assert rate >= 0.9
    assert [s.prdtypecode for s in explained.top_k] == [s.prdtypecode for s in served.top_k]
    np.testing.assert_allclose(
        [s.probability for s in explained.top_k], [s.probability for s in served.top_k], rtol=1e-6
    )
    assert explained.heatmap is not None and explained.image_missing_reason is None
    share = explained.modalities
    assert share.text is not None and share.image is not None
    assert abs(share.text + share.image - (share.p_both - share.p_none)) < 1e-4
    assert abs(share.share_text + share.share_image - 1) < 1e-6
    assert {w.word for w in explained.words} == {"console", "de", "jeu", "lot", "superbe"}


async def test_decisive_photo_cell_ranks_first(model_repo: tuple[Path, Manifest]) -> None:
    root, _ = model_repo
    rng = np.random.default_rng(3)
    colours = [(250, 10, 10), (10, 250, 10), (10, 10, 250), (250, 250, 10)]  # class 0..3's colour
    explainer = OnlineExplainer(settings(root))
    hits, total, requests = 0, 30, set()
    try:
        for _ in range(total):
            cell = int(rng.integers(GRID * GRID))
            label, other = (int(x) for x in rng.choice(len(colours), 2, replace=False))
            faint = (int((cell + rng.integers(1, GRID * GRID)) % (GRID * GRID)), colours[other])
            result = await explainer.explain(None, None, noisy_photo(rng, cell, colours[label], faint))
            assert result.heatmap is not None and result.words == []
            assert result.prdtypecode == LABELS[label][0]
            flat = np.asarray(result.heatmap.weights).reshape(-1)
            hits += int(np.argmax(flat)) == cell
            requests.add(result.inference_requests)
            assert result.modalities.share_image == 1.0 and result.modalities.text is None
    finally:
        await explainer.close()
    rate = hits / total
    print(f"deciding photo cell ranked first: {hits}/{total} = {rate:.0%}")
    assert rate >= 0.8
    assert requests == {2}  # 26 copies in chunks of 16: two image requests, no text request


async def test_missing_photo_is_reported_and_text_carries_everything(
    model_repo: tuple[Path, Manifest],
) -> None:
    root, _ = model_repo
    explainer = OnlineExplainer(settings(root))
    try:
        result = await explainer.explain("Piscine avec pompe", None, b"not an image")
    finally:
        await explainer.close()
    assert result.image_missing_reason == "corrupt" and result.heatmap is None
    assert result.prdtypecode == 2583
    assert {w.word for w in result.words_for[:2]} == {"piscine", "pompe"}
    assert result.modalities.share_text == 1.0 and result.modalities.image is None


async def test_explainer_shares_the_classifiers_public_preparer(model_repo: tuple[Path, Manifest]) -> None:
    """The explainer prepares text with the classifier's preparer (one detector per process),
    through its public ``preparer()``, built once."""
    root, _ = model_repo
    classifier = OnlineClassifier(settings(root))
    explainer = OnlineExplainer(settings(root), classifier)
    calls = []
    built = classifier.preparer

    def counting() -> Preparer:
        calls.append(1)
        return built()

    classifier.preparer = counting  # type: ignore[method-assign]
    try:
        first = built()
        await explainer.explain("Console de jeu", None, None)
        await classifier.classify("Console de jeu", None, None)
        assert len(calls) == 2 and built() is first
    finally:
        await explainer.close()
        await classifier.close()


async def test_a_large_jpeg_is_explained_with_the_pixels_it_is_served_with(
    model_repo: tuple[Path, Manifest],
) -> None:
    """A JPEG several times the model's input is decoded in draft mode when served; the explainer
    must decode it the same way, or its probabilities drift from the served ones."""
    root, manifest = model_repo
    side = manifest.image_models[0].image_size * 8
    rng = np.random.default_rng(5)
    pixels = np.clip(rng.normal(128, 60, size=(side, side, 3)), 0, 255).astype(np.uint8)
    pixels[: side // 3, : side // 2] = (250, 10, 10)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=70)
    photo = buffer.getvalue()
    explainer = OnlineExplainer(settings(root))
    try:
        explained = await explainer.explain(None, None, photo)
        served = await OnlineClassifier.classify(explainer.classifier, None, None, photo)
    finally:
        await explainer.close()
    assert [s.prdtypecode for s in explained.top_k] == [s.prdtypecode for s in served.top_k]
    np.testing.assert_allclose(
        [s.probability for s in explained.top_k], [s.probability for s in served.top_k], rtol=1e-6
    )
