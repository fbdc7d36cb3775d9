"""Photo occlusion grid and the heat-map picture reviewers see."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageDraw

# Mid grey: neither dark nor bright, close to the ImageNet mean the image models normalise by.
FILL = (128, 128, 128)


def cell_boxes(width: int, height: int, rows: int, cols: int) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of each grid cell, row-major, covering the whole image."""
    xs = [round(c * width / cols) for c in range(cols + 1)]
    ys = [round(r * height / rows) for r in range(rows + 1)]
    return [(xs[c], ys[r], xs[c + 1], ys[r + 1]) for r in range(rows) for c in range(cols)]


def occluded_copies(image: Image.Image, rows: int, cols: int) -> list[Image.Image]:
    """One copy of ``image`` per grid cell, that cell filled with grey (row-major order)."""
    copies = []
    for box in cell_boxes(image.width, image.height, rows, cols):
        copy = image.copy()
        copy.paste(FILL, box)
        copies.append(copy)
    return copies


def heatmap_png(image: Image.Image, weights: np.ndarray, side: int = 192) -> str:
    """Base64 PNG: a thumbnail with red cells (pushed for) and blue cells (against), by strength."""
    thumb = image.convert("RGB").copy()
    thumb.thumbnail((side, side))
    rows, cols = weights.shape
    # Relative to the strongest cell, but never below half a log-odds: noise stays faint.
    scale = max(float(np.abs(weights).max()), 0.5)
    overlay = Image.new("RGBA", thumb.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    boxes = cell_boxes(thumb.width, thumb.height, rows, cols)
    for box, weight in zip(boxes, weights.reshape(-1), strict=True):
        alpha = int(170 * min(1.0, abs(float(weight)) / scale))
        colour = (220, 38, 38, alpha) if weight > 0 else (37, 99, 235, alpha)
        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=colour)
    picture = Image.alpha_composite(thumb.convert("RGBA"), overlay).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
