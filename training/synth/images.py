"""Procedural 500x500 JPEG product photos whose content depends on the category.

A photo is a background (studio white, colour, wood, grass, water, room) plus the category's
object drawn in its palette, rotated, scaled, moved, with text-like stickers and pixel noise.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

from training.synth import shapes as sh
from training.synth import shapes_home as sx
from training.synth.config import SynthConfig
from training.synth.lexicon import NEIGHBOURS
from training.synth.shapes import Drawer, Palette


@dataclass(frozen=True)
class Look:
    drawers: tuple[Drawer, ...]
    palette: Palette
    backgrounds: tuple[str, ...]  # drawn uniformly; repeat a name to weight it


_PAPER = ((200, 40, 40), (30, 60, 140), (240, 230, 210), (30, 30, 30), (40, 120, 80), (230, 180, 40))
_PLASTIC = ((20, 20, 22), (240, 240, 240), (30, 60, 150), (200, 20, 30))
_BRIGHT = ((230, 40, 40), (250, 200, 20), (40, 120, 230), (60, 190, 80), (240, 120, 200))
_PASTEL = ((250, 200, 210), (200, 225, 250), (250, 245, 200), (220, 250, 220), (255, 255, 255))
_WOOD = ((150, 100, 60), (110, 70, 40), (200, 170, 120), (90, 90, 95), (235, 230, 220))
_WARM = ((120, 70, 40), (180, 40, 30), (240, 200, 80), (230, 120, 30), (250, 240, 220))
_GARDEN = ((90, 140, 60), (60, 60, 60), (200, 190, 160), (240, 240, 235), (150, 100, 60))
_STUDIO = ("white", "white", "white", "gradient")

LOOKS: dict[int, Look] = {
    10: Look((sh.book,), _PAPER, (*_STUDIO, "wood")),
    2705: Look((sh.ebook, sh.book), _PAPER, (*_STUDIO, "solid")),
    2280: Look((sh.magazine,), _BRIGHT, _STUDIO),
    2403: Look((sh.book_stack, sh.book_stack, sh.magazine), _PAPER, (*_STUDIO, "wood", "room")),
    40: Look((sh.game_case,), _BRIGHT, _STUDIO),
    50: Look((sh.gamepad,), _PLASTIC, (*_STUDIO, "solid")),
    60: Look((sh.console,), _PLASTIC, _STUDIO),
    2462: Look((sh.console_lot,), _PLASTIC, (*_STUDIO, "wood", "room")),
    2905: Look((sh.download, sh.game_case), _BRIGHT, ("gradient", "solid", "white")),
    1140: Look((sh.figure,), _BRIGHT, (*_STUDIO, "solid")),
    1160: Look((sh.cards,), _BRIGHT, (*_STUDIO, "wood")),
    1180: Look((sh.rpg,), ((90, 30, 30), (60, 60, 70), (150, 120, 60)), ("wood", "gradient", "white")),
    1280: Look((sx.toy,), _BRIGHT, (*_STUDIO, "room")),
    1281: Look((sx.boardgame,), _BRIGHT, (*_STUDIO, "wood")),
    1300: Look((sx.rc_car,), _BRIGHT, (*_STUDIO, "grass")),
    1301: Look((sx.socks,), _PASTEL, (*_STUDIO, "solid")),
    1320: Look((sx.baby,), (*_PASTEL, (60, 60, 70)), (*_STUDIO, "room")),
    1302: Look((sx.sports,), _BRIGHT, (*_STUDIO, "grass")),
    1560: Look((sx.furniture,), _WOOD, ("white", "white", "room", "room")),
    1920: Look((sx.linen,), _PASTEL + _WOOD[2:], ("white", "room", "solid")),
    1940: Look((sx.breakfast,), _WARM, (*_STUDIO, "wood")),
    2060: Look((sx.decor,), _WARM + _PASTEL[:2], ("white", "room", "room", "gradient")),
    2220: Look((sx.pet,), _BRIGHT + _WOOD[:1], (*_STUDIO, "grass")),
    2522: Look((sx.stationery,), _BRIGHT, (*_STUDIO, "wood")),
    2582: Look((sx.garden_furniture,), _GARDEN, ("grass", "grass", "white", "room")),
    2583: Look((sx.pool,), ((40, 100, 200), (230, 230, 230), (30, 30, 30)), ("grass", "water", "white")),
    2585: Look(
        (sx.tools,),
        ((60, 150, 60), (230, 120, 20), (30, 80, 160), (200, 30, 30)),
        ("grass", "white", "white"),
    ),
}


def _background(kind: str, rng: np.random.Generator, size: int) -> Image.Image:
    if kind == "white":
        v = int(rng.integers(232, 256))
        return Image.new("RGB", (size, size), (v, v, v))
    if kind == "solid":
        c = tuple(int(x) for x in rng.integers(120, 256, size=3))
        return Image.new("RGB", (size, size), c)  # type: ignore[arg-type]
    if kind == "gradient":
        a, b = rng.integers(60, 256, size=3), rng.integers(60, 256, size=3)
        t = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None]
        rows = (a[None, :] * (1 - t) + b[None, :] * t).astype(np.uint8)
        return Image.fromarray(np.repeat(rows[:, None, :], size, axis=1), "RGB")
    if kind == "room":
        img = Image.new("RGB", (size, size), tuple(int(x) for x in rng.integers(170, 240, size=3)))  # type: ignore[arg-type]
        horizon = int(rng.integers(size // 2, size * 4 // 5))
        ImageDraw.Draw(img).rectangle(
            (0, horizon, size, size), fill=tuple(int(x) for x in rng.integers(80, 170, size=3))
        )
        return img
    base = {"wood": (150, 105, 65), "grass": (80, 140, 60), "water": (40, 140, 210)}[kind]
    img = Image.new("RGB", (size, size), base)
    d = ImageDraw.Draw(img)
    for _ in range(40):
        y = int(rng.integers(0, size))
        shade = tuple(max(0, min(255, c + int(rng.integers(-35, 36)))) for c in base)
        if kind == "wood":
            d.line((0, y, size, y + int(rng.integers(-8, 9))), fill=shade, width=int(rng.integers(2, 9)))
        else:
            x = int(rng.integers(0, size))
            d.ellipse((x - 30, y - 8, x + 30, y + 8), fill=shade)
    return img


class PhotoMaker:
    """Draws photos for one catalog.

    Noise comes from a bank of tall tiles (a random window is a view, no copy) and is added in a
    reused int16 buffer: per-photo allocations of 500x500x3 floats cost more than the drawing.
    """

    def __init__(self, seed: int, cfg: SynthConfig) -> None:
        self.cfg = cfg
        bank_rng = np.random.default_rng([seed, 7919])
        n = cfg.image_size
        self.noise = [
            np.clip(np.rint(bank_rng.standard_normal((2 * n, n, 3)) * cfg.image_noise), -255, 255).astype(
                np.int16
            )
            for _ in range(3)
        ]
        self._buf = np.empty((n, n, 3), dtype=np.int16)

    def draw(
        self,
        code: int,
        rng: np.random.Generator,
        uninformative: bool,
        confused: bool,
        palette: Palette | None = None,
        mark: Callable[[ImageDraw.ImageDraw, int], None] | None = None,
    ) -> Image.Image:
        """A photo of ``code``'s look; ``palette`` replaces its colours and ``mark`` draws on the
        finished scene (the hierarchical catalog's category and leaf signals)."""
        cfg, size = self.cfg, self.cfg.image_size
        look = LOOKS[code] if palette is None else replace(LOOKS[code], palette=palette)
        if confused:  # drawn like a neighbour, in a palette mixed from both
            other = LOOKS[NEIGHBOURS[code][int(rng.integers(len(NEIGHBOURS[code])))]]
            look = Look(other.drawers, other.palette + look.palette, other.backgrounds)
        drawer: Drawer = (
            sx.placeholder if uninformative else look.drawers[int(rng.integers(len(look.drawers)))]
        )
        bg_kind = (
            "white"
            if uninformative and rng.random() < 0.5
            else look.backgrounds[int(rng.integers(len(look.backgrounds)))]
        )
        if rng.random() < 0.15:  # sellers' backgrounds vary whatever the product
            bg_kind = ("white", "solid", "gradient", "room", "wood")[int(rng.integers(5))]
        img = _background(bg_kind, rng, size)
        obj = Image.new("RGBA", (sh.S, sh.S), (0, 0, 0, 0))
        drawer(ImageDraw.Draw(obj), rng, look.palette)
        if rng.random() < 0.5:
            obj = obj.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        angle = float(rng.uniform(-cfg.max_rotation, cfg.max_rotation))
        obj = obj.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
        side = int(size * rng.uniform(*cfg.scale_range))
        obj = obj.resize((side, side), Image.Resampling.BILINEAR)
        x = int(rng.integers(-side // 8, max(1, size - side + side // 8)))
        y = int(rng.integers(-side // 8, max(1, size - side + side // 8)))
        img.paste(obj, (x, y), obj)
        if mark is not None and not uninformative:
            mark(ImageDraw.Draw(img), size)
        if rng.random() < cfg.text_stroke_rate:
            d = ImageDraw.Draw(img)
            x0, y0 = int(rng.integers(0, size - 160)), int(rng.integers(0, size - 60))
            ink = (20, 20, 20) if rng.random() < 0.6 else (220, 30, 30)
            sh.text_lines(
                d,
                rng,
                (x0, y0, x0 + int(rng.integers(60, 160)), y0 + int(rng.integers(12, 60))),
                ink,
                height=int(rng.integers(3, 9)),
            )
        return self._finish(img, rng)

    def _finish(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        """Colour cast (per-channel lookup table) and Gaussian pixel noise."""
        gain = rng.uniform(0.85, 1.15, size=3)
        lut = [min(255, int(v * g + 0.5)) for g in gain for v in range(256)]
        arr = np.asarray(img.point(lut))
        tile = self.noise[int(rng.integers(len(self.noise)))]
        shift = int(rng.integers(0, tile.shape[0] - arr.shape[0] + 1))
        buf = self._buf
        np.add(arr, tile[shift : shift + arr.shape[0]], out=buf)
        np.clip(buf, 0, 255, out=buf)
        return Image.fromarray(buf.astype(np.uint8), "RGB")


def encode_jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
