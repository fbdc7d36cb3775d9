"""A tiny catalog in the challenge layout, written by tests (independent of the generator).

Four classes whose titles carry class words and whose photos have class colours, plus the
awkward cases: HTML with entities, empty descriptions, a duplicated text, a missing photo, a
corrupt photo, an empty text.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = {
    10: (["livre", "roman", "poche", "auteur"], (200, 40, 40)),
    40: (["jeu", "console", "manette", "nintendo"], (40, 200, 40)),
    2583: (["piscine", "pompe", "filtre", "bassin"], (40, 40, 200)),
    1300: (["drone", "helice", "camera", "vol"], (200, 200, 40)),
}


def jpeg(color: tuple[int, int, int], rng: np.random.Generator, size: int = 96) -> bytes:
    noise = rng.integers(-30, 30, size=(size, size, 3))
    pixels = np.clip(np.array(color)[None, None, :] + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def write_catalog(root: Path, n: int = 64, seed: int = 0, labels: bool = True) -> Path:
    """Write ``n`` offers (n >= 12) under ``root``; returns ``root``."""
    rng = np.random.default_rng(seed)
    images = root / "images" / "image_train"
    images.mkdir(parents=True, exist_ok=True)
    codes = list(CLASSES)
    rows, ys = [], []
    for i in range(n):
        code = codes[i % len(codes)]
        words, color = CLASSES[code]
        title = " ".join(rng.choice(words, size=3)) + f" modele {i}"
        description = "" if i % 3 == 0 else f"<p>Tr&egrave;s bon &eacute;tat &amp; {words[0]}</p><br/>"
        product_id, image_id = 1000 + i, 5000 + i
        rows.append((title, description, product_id, image_id))
        ys.append(code)
        path = images / f"image_{image_id}_product_{product_id}.jpg"
        if i == 5:
            continue  # missing photo
        path.write_bytes(b"not a jpeg at all" if i == 6 else jpeg(color, rng))
    # A duplicated offer text (two listings of one product) and an empty text.
    rows[8] = (rows[4][0], rows[4][1], rows[8][2], rows[8][3])
    ys[8] = ys[4]
    rows[9] = ("", "", rows[9][2], rows[9][3])
    lines = [",designation,description,productid,imageid"]
    for i, (title, description, product_id, image_id) in enumerate(rows):
        lines.append(f'{i},"{title}","{description}",{product_id},{image_id}')
    (root / "X_train_update.csv").write_text("\n".join(lines) + "\n", "utf-8")
    if labels:
        y_lines = [",prdtypecode"] + [f"{i},{code}" for i, code in enumerate(ys)]
        (root / "Y_train_CVw08PX.csv").write_text("\n".join(y_lines) + "\n", "utf-8")
    return root
