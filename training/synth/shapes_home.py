"""Object silhouettes for toys, baby, home, garden and the uninformative photos (see shapes.py)."""

from __future__ import annotations

import numpy as np
from PIL import ImageDraw

from training.synth.shapes import Palette, _ri, col, text_lines


def toy(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    if rng.random() < 0.5:  # plush bear
        c = col(rng, pal)
        d.ellipse((60, 140, 260, 310), fill=c)
        d.ellipse((90, 30, 230, 160), fill=c)
        d.ellipse((80, 25, 125, 70), fill=c)
        d.ellipse((195, 25, 240, 70), fill=c)
        d.ellipse((130, 100, 190, 145), fill=(240, 225, 200))
        d.ellipse((128, 75, 142, 89), fill=(0, 0, 0))
        d.ellipse((178, 75, 192, 89), fill=(0, 0, 0))
    else:  # building blocks
        for _ in range(_ri(rng, 5, 10)):
            x, y, s = _ri(rng, 30, 230), _ri(rng, 60, 240), _ri(rng, 40, 70)
            c = col(rng, pal, 40)
            d.rectangle((x, y, x + s, y + s), fill=c, outline=(0, 0, 0))
            d.ellipse((x + 8, y - 8, x + 24, y + 6), fill=c)


def boardgame(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    d.rectangle((20, 40, 300, 280), fill=col(rng, pal), outline=(0, 0, 0), width=3)
    if rng.random() < 0.5:
        n = _ri(rng, 6, 8)
        step = 200 // n
        for i in range(n):
            for j in range(n):
                if (i + j) % 2:
                    d.rectangle(
                        (60 + i * step, 60 + j * step, 60 + (i + 1) * step, 60 + (j + 1) * step),
                        fill=(30, 30, 30),
                    )
    else:
        text_lines(d, rng, (40, 55, 280, 95), (255, 255, 255), height=14, lines=1)
        for _ in range(_ri(rng, 3, 6)):
            x, y = _ri(rng, 50, 260), _ri(rng, 120, 250)
            d.ellipse(
                (x - 12, y - 12, x + 12, y + 12),
                fill=col(rng, ((220, 30, 30), (30, 30, 220), (240, 200, 20))),
            )
            d.rectangle((x - 6, y + 10, x + 6, y + 26), fill=(60, 60, 60))


def rc_car(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    if rng.random() < 0.3:  # drone
        d.line((70, 70, 250, 250), fill=(40, 40, 40), width=14)
        d.line((250, 70, 70, 250), fill=(40, 40, 40), width=14)
        for x, y in ((70, 70), (250, 70), (70, 250), (250, 250)):
            d.ellipse((x - 45, y - 12, x + 45, y + 12), outline=(80, 80, 80), width=4)
        d.rounded_rectangle((120, 130, 200, 190), radius=14, fill=col(rng, pal))
        return
    body = col(rng, pal)
    d.polygon(
        ((30, 200), (60, 150), (120, 120), (210, 120), (260, 160), (295, 175), (295, 220), (30, 225)),
        fill=body,
    )
    d.polygon(((125, 130), (205, 130), (240, 160), (110, 160)), fill=(150, 200, 230))
    for x in (85, 240):
        d.ellipse((x - 34, 190, x + 34, 258), fill=(20, 20, 20))
        d.ellipse((x - 14, 210, x + 14, 238), fill=(170, 170, 170))
    if rng.random() < 0.5:
        d.line((270, 170, 300, 60), fill=(20, 20, 20), width=3)


def socks(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    for k in range(_ri(rng, 1, 3)):
        ox = 20 + k * 95
        c = col(rng, pal)
        d.polygon(
            ((ox, 30), (ox + 70, 30), (ox + 70, 220), (ox + 110, 260), (ox + 90, 300), (ox, 290)), fill=c
        )
        for y in range(40, 200, 30):
            d.rectangle((ox, y, ox + 70, y + 10), fill=col(rng, pal, 70))
        d.rectangle((ox, 30, ox + 70, 50), fill=(250, 250, 250))


def baby(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    c = col(rng, pal)
    if rng.random() < 0.5:  # stroller
        d.pieslice((60, 40, 260, 240), 180, 300, fill=c)
        d.rounded_rectangle((70, 140, 260, 210), radius=30, fill=c)
        d.line((250, 150, 300, 60), fill=(30, 30, 30), width=8)
        for x in (100, 230):
            d.ellipse((x - 30, 240, x + 30, 300), outline=(30, 30, 30), width=9)
    else:  # bottle + soother
        d.rounded_rectangle((120, 90, 200, 300), radius=20, fill=(235, 240, 250), outline=(150, 150, 160))
        d.rectangle((115, 70, 205, 100), fill=c)
        d.ellipse((140, 20, 180, 80), fill=(240, 200, 150))
        for y in range(130, 290, 30):
            d.line((125, y, 150, y), fill=(120, 120, 140), width=2)
        d.ellipse((220, 200, 290, 260), fill=col(rng, pal))


def sports(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    r = rng.random()
    if r < 0.4:  # ball
        d.ellipse((50, 50, 270, 270), fill=(245, 245, 245), outline=(0, 0, 0), width=3)
        for _ in range(5):
            x, y = _ri(rng, 90, 230), _ri(rng, 90, 230)
            d.regular_polygon((x, y, 25), 5, fill=col(rng, pal))
    elif r < 0.7:  # bike
        c = col(rng, pal)
        for x in (80, 240):
            d.ellipse((x - 60, 170, x + 60, 290), outline=(20, 20, 20), width=8)
        d.line((80, 230, 150, 160, 240, 230, 160, 230, 80, 230), fill=c, width=9)
        d.line((150, 160, 140, 130), fill=c, width=7)
        d.line((210, 140, 240, 230), fill=c, width=7)
    else:  # trampoline / tent
        d.ellipse((30, 130, 290, 200), fill=col(rng, pal), outline=(20, 20, 20), width=6)
        for x in (50, 120, 200, 270):
            d.line((x, 170, x, 280), fill=(40, 40, 40), width=6)


def furniture(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    c = col(rng, pal)
    r = rng.random()
    if r < 0.4:  # sofa
        d.rounded_rectangle((40, 110, 280, 190), radius=16, fill=c)
        d.rounded_rectangle((30, 170, 290, 240), radius=12, fill=tuple(max(0, v - 25) for v in c))
        d.rectangle((25, 150, 60, 250), fill=c)
        d.rectangle((260, 150, 295, 250), fill=c)
        for x in (40, 275):
            d.rectangle((x, 250, x + 8, 275), fill=(40, 30, 20))
    elif r < 0.7:  # chest of drawers / shelf
        d.rectangle((70, 60, 250, 290), fill=c, outline=(0, 0, 0))
        for y in range(80, 280, 55):
            d.rectangle((80, y, 240, y + 45), outline=(40, 30, 20), width=2)
            d.ellipse((153, y + 18, 167, y + 28), fill=(60, 60, 60))
    else:  # table or lamp
        d.rectangle((40, 130, 280, 150), fill=c)
        d.rectangle((60, 150, 72, 290), fill=c)
        d.rectangle((248, 150, 260, 290), fill=c)


def linen(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    y = 290
    pattern = _ri(rng, 0, 2)
    for _ in range(_ri(rng, 1, 4)):
        h = _ri(rng, 40, 80)
        c, c2 = col(rng, pal), col(rng, pal, 60)
        d.rounded_rectangle((40, y - h, 280, y), radius=12, fill=c)
        if pattern == 0:
            for x in range(50, 275, 22):
                d.line((x, y - h + 4, x, y - 4), fill=c2, width=6)
        elif pattern == 1:
            for x in range(55, 270, 25):
                for yy in range(y - h + 10, y - 5, 22):
                    d.ellipse((x - 5, yy - 5, x + 5, yy + 5), fill=c2)
        y -= h + 4


def breakfast(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    c = col(rng, pal)
    r = rng.random()
    if r < 0.4:  # mug
        d.rounded_rectangle((80, 110, 220, 280), radius=14, fill=c)
        d.ellipse((200, 150, 270, 230), outline=c, width=16)
        d.ellipse((85, 100, 215, 125), fill=(60, 35, 20))
    elif r < 0.7:  # jar
        d.rounded_rectangle((90, 100, 230, 290), radius=24, fill=c)
        d.rectangle((100, 70, 220, 105), fill=col(rng, ((200, 40, 40), (240, 240, 230))))
        d.rectangle((105, 160, 215, 230), fill=(245, 240, 220))
        text_lines(d, rng, (112, 170, 208, 222), (60, 40, 30), height=5)
    else:  # cereal / coffee box
        d.rectangle((90, 40, 230, 300), fill=c, outline=(0, 0, 0))
        d.ellipse((110, 140, 210, 240), fill=(240, 240, 240))
        text_lines(d, rng, (100, 55, 220, 110), (255, 255, 255), height=10, lines=2)


def decor(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    c = col(rng, pal)
    r = rng.random()
    if r < 0.35:  # vase with flowers
        d.polygon(((130, 300), (190, 300), (215, 210), (185, 150), (135, 150), (105, 210)), fill=c)
        for _ in range(_ri(rng, 3, 7)):
            x, y = _ri(rng, 90, 230), _ri(rng, 30, 130)
            d.line((160, 150, x, y), fill=(60, 120, 50), width=3)
            d.ellipse(
                (x - 14, y - 14, x + 14, y + 14),
                fill=col(rng, ((230, 80, 120), (250, 220, 60), (250, 250, 250))),
            )
    elif r < 0.7:  # frame / mirror
        if rng.random() < 0.5:
            d.rectangle((40, 40, 280, 280), fill=col(rng, ((200, 160, 60), (30, 30, 30), (240, 240, 240))))
            d.rectangle((65, 65, 255, 255), fill=col(rng, pal, 70))
        else:
            d.ellipse((40, 40, 280, 280), fill=(200, 160, 60))
            d.ellipse((60, 60, 260, 260), fill=(200, 215, 225))
    else:  # candle / clock
        d.ellipse((50, 50, 270, 270), fill=c, outline=(30, 30, 30), width=6)
        d.line((160, 160, 160, 80), fill=(20, 20, 20), width=6)
        d.line((160, 160, 220, 180), fill=(20, 20, 20), width=4)


def pet(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    c = col(rng, pal)
    r = rng.random()
    if r < 0.35:  # bowl
        d.chord((50, 120, 270, 300), 0, 180, fill=c)
        d.ellipse((50, 180, 270, 240), fill=(130, 80, 40))
    elif r < 0.65:  # bone / collar
        d.rectangle((90, 145, 230, 175), fill=c)
        for x in (90, 230):
            for y in (140, 180):
                d.ellipse((x - 22, y - 22, x + 22, y + 22), fill=c)
    else:  # cat tree
        for x in (100, 220):
            d.rectangle((x - 12, 60, x + 12, 300), fill=(210, 190, 150))
        for y in (60, 160, 290):
            d.rectangle((60, y - 12, 260, y + 8), fill=c)


def stationery(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    if rng.random() < 0.6:
        d.rectangle((60, 30, 250, 290), fill=col(rng, pal))
        d.rectangle((80, 45, 240, 280), fill=(250, 250, 245))
        for y in range(55, 275, 12):
            d.line((80, y, 240, y), fill=(150, 170, 220), width=1)
        for y in range(45, 280, 18):
            d.ellipse((55, y, 70, y + 10), outline=(80, 80, 80), width=2)
    for i in range(_ri(rng, 1, 4)):
        x = 255 + i * 14 - _ri(rng, 0, 200)
        c = col(rng, ((30, 60, 200), (200, 30, 30), (20, 20, 20), (30, 150, 60)))
        d.line((x, 40, x + 30, 290), fill=c, width=10)
        d.line((x + 28, 275, x + 31, 300), fill=(20, 20, 20), width=4)


def garden_furniture(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    c = col(rng, pal)
    if rng.random() < 0.4:
        d.polygon(((160, 20), (40, 100), (280, 100)), fill=col(rng, pal, 70))
        d.line((160, 100, 160, 290), fill=(60, 60, 60), width=6)
    d.ellipse((80, 170, 240, 200), fill=c)
    d.line((160, 190, 160, 290), fill=c, width=12)
    for x in (40, 250):
        d.rectangle((x, 190, x + 40, 230), fill=c)
        d.rectangle((x, 140, x + 40, 190), outline=c, width=6)
        d.line((x, 230, x, 290), fill=c, width=6)
        d.line((x + 40, 230, x + 40, 290), fill=c, width=6)


def pool(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    if rng.random() < 0.6:
        d.ellipse((20, 90, 300, 300), fill=col(rng, ((100, 110, 130), (60, 120, 200))))
        d.ellipse((35, 100, 285, 220), fill=col(rng, ((60, 170, 230), (20, 140, 210))))
        for _ in range(6):
            x, y = _ri(rng, 60, 250), _ri(rng, 120, 200)
            d.arc((x - 30, y - 6, x + 30, y + 6), 180, 360, fill=(220, 245, 255), width=2)
        if rng.random() < 0.6:
            d.line((250, 60, 250, 200), fill=(200, 200, 200), width=6)
            d.line((280, 60, 280, 200), fill=(200, 200, 200), width=6)
            for y in range(80, 200, 30):
                d.line((250, y, 280, y), fill=(200, 200, 200), width=5)
    else:  # pump / robot
        d.rounded_rectangle((70, 120, 250, 260), radius=20, fill=col(rng, pal))
        d.ellipse((110, 60, 210, 150), fill=(40, 90, 160))
        d.line((250, 200, 300, 180), fill=(30, 30, 30), width=14)


def tools(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    c = col(rng, pal)
    r = rng.random()
    if r < 0.4:  # mower
        d.rounded_rectangle((60, 160, 260, 250), radius=20, fill=c)
        d.line((230, 170, 300, 40), fill=(30, 30, 30), width=8)
        for x in (90, 230):
            d.ellipse((x - 28, 225, x + 28, 281), fill=(25, 25, 25))
    elif r < 0.7:  # rake / spade
        d.line((160, 20, 160, 240), fill=(150, 100, 50), width=10)
        if rng.random() < 0.5:
            d.rectangle((90, 240, 230, 252), fill=(120, 120, 125))
            for x in range(95, 230, 14):
                d.line((x, 252, x, 290), fill=(120, 120, 125), width=4)
        else:
            d.polygon(((120, 240), (200, 240), (195, 300), (160, 315), (125, 300)), fill=(140, 140, 150))
        d.rectangle((140, 20, 180, 35), fill=c)
    else:  # hedge trimmer / hose reel
        d.rounded_rectangle((30, 130, 180, 200), radius=25, fill=c)
        d.rectangle((180, 150, 310, 175), fill=(160, 160, 165))
        for x in range(185, 305, 12):
            d.polygon(((x, 150), (x + 6, 140), (x + 12, 150)), fill=(160, 160, 165))


def placeholder(d: ImageDraw.ImageDraw, rng: np.random.Generator, pal: Palette) -> None:
    """What an uninformative photo shows: a 'no image' icon, a shipping box or a shop logo."""
    r = rng.random()
    if r < 0.35:
        d.rectangle((60, 90, 260, 230), outline=(150, 150, 150), width=8)
        d.ellipse((125, 120, 195, 190), outline=(150, 150, 150), width=8)
        d.line((50, 260, 270, 60), fill=(150, 150, 150), width=8)
    elif r < 0.7:
        d.polygon(((40, 120), (160, 80), (280, 120), (280, 260), (160, 300), (40, 260)), fill=(190, 150, 100))
        d.line((160, 140, 160, 300), fill=(140, 100, 60), width=3)
        d.line((40, 120, 160, 140, 280, 120), fill=(140, 100, 60), width=3)
        d.rectangle((70, 170, 140, 220), fill=(250, 250, 250))
    else:
        c = (int(rng.integers(256)), int(rng.integers(256)), int(rng.integers(256)))
        d.ellipse((60, 60, 260, 260), fill=c)
        text_lines(d, rng, (90, 140, 230, 180), (255, 255, 255), height=12, lines=2)
