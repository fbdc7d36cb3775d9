"""Object silhouettes drawn on a 320x320 transparent canvas (one function per kind of product).

Drawings are crude on purpose: what matters is that each category has a recognisable layout and
that confusable categories (book / e-book / magazine, game / console / controller) look alike.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import ImageDraw

Color = tuple[int, int, int]
Palette = tuple[Color, ...]
Drawer = Callable[[ImageDraw.ImageDraw, np.random.Generator, Palette], None]
S = 320  # canvas side


def col(rng: np.random.Generator, pal: Palette, jitter: int = 28) -> Color:
    base = pal[int(rng.integers(len(pal)))]
    j = rng.integers(-jitter, jitter + 1, size=3)
    return (
        int(min(255, max(0, base[0] + j[0]))),
        int(min(255, max(0, base[1] + j[1]))),
        int(min(255, max(0, base[2] + j[2]))),
    )


def _ri(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(lo, hi + 1))


def text_lines(d: ImageDraw.ImageDraw, rng: np.random.Generator, box: tuple[int, int, int, int], color: Color,
               height: int = 5, lines: int | None = None) -> None:  # fmt: skip
    """Rows of dashes that read as printed text at a glance."""
    x0, y0, x1, y1 = box
    n = lines if lines is not None else max(1, (y1 - y0) // (height * 2 + 2))
    for i in range(n):
        y = y0 + i * (height * 2 + 2)
        if y + height > y1:
            break
        x = x0
        while x < x1 - 6:
            w = _ri(rng, 6, 30)
            d.rectangle((x, y, min(x + w, x1), y + height), fill=color)
            x += w + _ri(rng, 3, 8)


def _art(
    d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette, box: tuple[int, int, int, int]
) -> None:
    """A cover illustration: a few overlapping blobs."""
    x0, y0, x1, y1 = box
    for _ in range(_ri(rng, 2, 5)):
        cx, cy = _ri(rng, x0, x1), _ri(rng, y0, y1)
        r = _ri(rng, 8, max(9, (x1 - x0) // 3))
        d.ellipse(
            (max(x0, cx - r), max(y0, cy - r), min(x1, cx + r), min(y1, cy + r)), fill=col(rng, pal, 60)
        )


def book(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    w, h = _ri(rng, 170, 210), _ri(rng, 250, 300)
    x0, y0 = (S - w) // 2, (S - h) // 2
    cover = col(rng, pal)
    d.rectangle((x0, y0, x0 + w, y0 + h), fill=cover, outline=(30, 30, 30))
    d.rectangle((x0, y0, x0 + 14, y0 + h), fill=tuple(max(0, c - 60) for c in cover))
    ink = (20, 20, 20) if sum(cover) > 380 else (240, 240, 235)
    text_lines(d, rng, (x0 + 28, y0 + 20, x0 + w - 14, y0 + 60), ink, height=7, lines=2)
    if rng.random() < 0.6:
        _art(d, rng, pal, (x0 + 30, y0 + 80, x0 + w - 20, y0 + h - 50))
    text_lines(d, rng, (x0 + 40, y0 + h - 35, x0 + w - 30, y0 + h - 10), ink, height=4, lines=1)


def ebook(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    frame = (25, 25, 28) if rng.random() < 0.7 else (225, 225, 228)
    d.rounded_rectangle((40, 10, 280, 310), radius=18, fill=frame)
    d.rectangle((55, 30, 265, 280), fill=(238, 236, 228))
    if rng.random() < 0.6:
        sub = col(rng, pal)
        d.rectangle((80, 45, 240, 265), fill=sub)
        text_lines(d, rng, (95, 60, 225, 90), (20, 20, 20), height=6, lines=2)
        _art(d, rng, pal, (95, 110, 225, 240))
    else:
        text_lines(d, rng, (65, 45, 255, 270), (70, 70, 70), height=3)
    d.ellipse((150, 288, 170, 304), fill=(90, 90, 95))


def magazine(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    x0, y0, x1, y1 = 55, 15, 265, 305
    d.rectangle((x0, y0, x1, y1), fill=col(rng, pal, 50))
    _art(d, rng, pal, (x0 + 10, y0 + 70, x1 - 10, y1 - 10))
    d.ellipse((x0 + 50, y0 + 90, x1 - 40, y1 - 20), fill=col(rng, ((220, 180, 150), (120, 90, 70))))
    d.rectangle((x0, y0, x1, y0 + 60), fill=col(rng, ((200, 20, 30), (250, 250, 250), (20, 20, 20))))
    text_lines(d, rng, (x0 + 8, y0 + 10, x1 - 8, y0 + 52), (255, 255, 255), height=14, lines=2)
    for i in range(_ri(rng, 2, 5)):
        y = y0 + 80 + i * 45
        text_lines(d, rng, (x0 + 6, y, x0 + 90, y + 30), (250, 240, 40), height=6, lines=2)


def book_stack(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    y = 300
    for _ in range(_ri(rng, 3, 8)):
        h = _ri(rng, 18, 42)
        w = _ri(rng, 170, 260)
        x0 = (S - w) // 2 + _ri(rng, -20, 20)
        c = col(rng, pal, 60)
        d.rectangle((x0, y - h, x0 + w, y), fill=c, outline=(25, 25, 25))
        text_lines(
            d, rng, (x0 + 20, y - h + h // 2 - 3, x0 + w - 40, y - 4), (240, 240, 230), height=4, lines=1
        )
        y -= h + 1
        if y < 40:
            break


def game_case(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    w, h = 190, 265
    x0, y0 = (S - w) // 2, (S - h) // 2
    band = [(0, 60, 160), (16, 124, 16), (225, 0, 20), (235, 235, 235)][_ri(rng, 0, 3)]
    d.rectangle((x0, y0, x0 + w, y0 + h), fill=col(rng, pal, 60), outline=(10, 10, 10), width=3)
    d.rectangle((x0, y0, x0 + w, y0 + 30), fill=band)
    text_lines(d, rng, (x0 + 10, y0 + 10, x0 + 90, y0 + 22), (255, 255, 255), height=5, lines=1)
    _art(d, rng, pal, (x0 + 8, y0 + 40, x0 + w - 8, y0 + h - 40))
    text_lines(d, rng, (x0 + 20, y0 + h - 34, x0 + w - 20, y0 + h - 8), (255, 255, 255), height=9, lines=1)


def gamepad(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    body = col(rng, pal)
    d.ellipse((40, 120, 140, 260), fill=body)
    d.ellipse((180, 120, 280, 260), fill=body)
    d.rounded_rectangle((80, 100, 240, 200), radius=40, fill=body)
    d.rectangle((78, 142, 112, 152), fill=(30, 30, 30))
    d.rectangle((90, 130, 100, 164), fill=(30, 30, 30))
    for dx, dy in ((215, 130), (235, 150), (195, 150), (215, 170)):
        d.ellipse(
            (dx - 8, dy - 8, dx + 8, dy + 8), fill=col(rng, ((200, 40, 40), (40, 160, 60), (40, 80, 200)))
        )
    d.ellipse((120, 175, 150, 205), fill=(50, 50, 50))
    d.ellipse((170, 175, 200, 205), fill=(50, 50, 50))
    if rng.random() < 0.4:
        d.line((160, 100, 160 + _ri(rng, -80, 80), 10), fill=(20, 20, 20), width=5)


def console(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    body = col(rng, pal)
    if rng.random() < 0.5:  # home console
        d.polygon(((30, 150), (290, 130), (300, 210), (40, 230)), fill=body, outline=(10, 10, 10))
        d.line((40, 185, 295, 170), fill=(min(255, body[0] + 60),) * 3, width=3)
        d.rectangle((200, 190, 260, 196), fill=(20, 20, 20))
    else:  # handheld
        d.rounded_rectangle((30, 100, 290, 230), radius=30, fill=body)
        d.rectangle((95, 112, 225, 218), fill=(20, 25, 35))
        d.rectangle((105, 122, 215, 208), fill=col(rng, pal, 80))
    if rng.random() < 0.5:
        gamepad_small(d, rng, pal)


def gamepad_small(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    c = col(rng, pal)
    d.ellipse((200, 240, 250, 300), fill=c)
    d.ellipse((260, 240, 310, 300), fill=c)
    d.rectangle((220, 245, 290, 280), fill=c)


def console_lot(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    d.polygon(((20, 200), (180, 190), (185, 250), (25, 262)), fill=col(rng, pal), outline=(0, 0, 0))
    for i in range(_ri(rng, 3, 6)):
        x, y = 170 + (i % 3) * 45, 20 + (i // 3) * 90
        d.rectangle((x, y, x + 40, y + 75), fill=col(rng, pal, 80), outline=(0, 0, 0), width=2)
        d.rectangle((x, y, x + 40, y + 10), fill=(0, 60, 160))
    gamepad_small(d, rng, pal)


def download(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    d.rectangle((30, 40, 290, 220), fill=(20, 20, 25))
    d.rectangle((40, 50, 280, 210), fill=col(rng, pal, 50))
    _art(d, rng, pal, (50, 60, 270, 200))
    d.rectangle((140, 230, 180, 260), fill=(40, 40, 45))
    d.rectangle((90, 260, 230, 272), fill=(40, 40, 45))
    if rng.random() < 0.6:
        d.polygon(
            ((160, 180), (130, 140), (150, 140), (150, 90), (170, 90), (170, 140), (190, 140)),
            fill=(255, 255, 255),
        )
    if rng.random() < 0.5:
        d.rectangle((60, 280, 260, 310), fill=(250, 250, 250), outline=(0, 0, 0))
        text_lines(d, rng, (70, 288, 250, 304), (0, 0, 0), height=6, lines=1)


def figure(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    big_head = rng.random() < 0.5  # pop-style figures
    body = col(rng, pal)
    d.ellipse((90, 280, 230, 310), fill=(30, 30, 30))
    hr = 55 if big_head else 30
    d.ellipse(
        (160 - hr, 90 - hr, 160 + hr, 90 + hr),
        fill=col(rng, ((235, 200, 170), (120, 200, 60), (200, 200, 210))),
    )
    d.rectangle((125, 140, 195, 230), fill=body)
    d.line((125, 150, 85, 210), fill=body, width=16)
    d.line((195, 150, 235, 205 - _ri(rng, 0, 80)), fill=body, width=16)
    d.line((140, 230, 135, 290), fill=col(rng, pal), width=18)
    d.line((180, 230, 185, 290), fill=col(rng, pal), width=18)
    d.ellipse((160 - hr // 2 - 8, 80, 160 - hr // 2 + 4, 92), fill=(0, 0, 0))
    d.ellipse((160 + hr // 2 - 4, 80, 160 + hr // 2 + 8, 92), fill=(0, 0, 0))


def cards(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    n = _ri(rng, 1, 5)
    for i in range(n):
        off = (i - n // 2) * 34
        x0, y0 = 95 + off, 30 + abs(off) // 3
        d.rounded_rectangle((x0, y0, x0 + 140, y0 + 200), radius=8, fill=(245, 215, 60), outline=(30, 30, 30))
        d.rectangle((x0 + 10, y0 + 10, x0 + 130, y0 + 190), fill=col(rng, pal))
        d.rectangle((x0 + 18, y0 + 35, x0 + 122, y0 + 110), fill=col(rng, pal, 70))
        text_lines(d, rng, (x0 + 18, y0 + 120, x0 + 122, y0 + 180), (20, 20, 20), height=3)


def rpg(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    if rng.random() < 0.4:
        book(d, rng, pal)
    for _ in range(_ri(rng, 2, 5)):
        x, y = _ri(rng, 40, 260), _ri(rng, 180, 270)
        c = col(rng, ((120, 120, 125), (70, 70, 75), (150, 40, 40)))
        d.ellipse((x - 16, y + 22, x + 16, y + 34), fill=(40, 40, 40))
        d.rectangle((x - 7, y - 5, x + 7, y + 26), fill=c)
        d.ellipse((x - 7, y - 20, x + 7, y - 6), fill=c)
    for _ in range(_ri(rng, 1, 4)):
        x, y, r = _ri(rng, 40, 280), _ri(rng, 40, 150), _ri(rng, 12, 24)
        pts = [
            (x + r * np.cos(a), y + r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 7)[:-1] + rng.random()
        ]
        d.polygon(pts, fill=col(rng, pal, 60), outline=(0, 0, 0))
