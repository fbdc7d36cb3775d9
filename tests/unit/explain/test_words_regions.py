"""The pieces an offer is cut into: words and grid cells."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from services.explain.regions import FILL, cell_boxes, heatmap_png, occluded_copies
from services.explain.words import distinct_words, without_word


def test_distinct_words_in_order_case_folded_and_capped() -> None:
    assert distinct_words("Lego Star-Wars, LEGO 75192 l'étoile", 10) == (
        ["lego", "star", "wars", "75192", "l", "étoile"],
        False,
    )
    assert distinct_words("a b c", 2) == (["a", "b"], True)


def test_without_word_removes_every_whole_occurrence_only() -> None:
    assert without_word("Lego city LEGO legoland", "lego") == "city legoland"
    assert without_word("piscine", "piscine") == ""


def test_cells_cover_the_image_and_each_copy_hides_one() -> None:
    boxes = cell_boxes(10, 7, 3, 3)
    covered = np.zeros((7, 10), dtype=int)
    for left, top, right, bottom in boxes:
        covered[top:bottom, left:right] += 1
    assert (covered == 1).all()
    image = Image.new("RGB", (10, 7), (255, 0, 0))
    copies = occluded_copies(image, 3, 3)
    assert len(copies) == 9
    pixels = np.asarray(copies[4])  # the centre cell
    left, top, right, bottom = boxes[4]
    assert (pixels[top:bottom, left:right] == FILL).all()
    assert (pixels[0, 0] == (255, 0, 0)).all()
    assert np.asarray(image)[top, left].tolist() == [255, 0, 0]  # the original is untouched


def test_heatmap_png_is_a_thumbnail_red_where_it_pushed_for() -> None:
    weights = np.zeros((2, 2))
    weights[0, 1] = 0.5
    weights[1, 0] = -0.1
    png = Image.open(
        io.BytesIO(base64.b64decode(heatmap_png(Image.new("RGB", (400, 200), "white"), weights)))
    )
    assert png.size == (192, 96)
    top_right, top_left = png.getpixel((150, 20)), png.getpixel((20, 20))
    bottom_left = png.getpixel((20, 70))
    assert top_right[0] > top_right[2] and top_right[1] < 200  # red
    assert top_left == (255, 255, 255)  # no weight: the photo shows through
    assert bottom_left[2] > bottom_left[0]  # blue
