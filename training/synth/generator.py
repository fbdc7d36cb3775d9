"""Writes a synthetic catalog in the challenge layout (docs/architecture.md §8), deterministic per seed.

Every offer draws from its own random streams seeded by (seed, row), so the same seed gives the
same files byte for byte whatever else changes in the run.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from shared.categories import reference_categories
from training.synth.config import SynthConfig, SynthSummary
from training.synth.hierarchy import SynthTree, decorate_description, decorate_title, draw_mark
from training.synth.images import PhotoMaker, encode_jpeg
from training.synth.lexicon import NEIGHBOURS
from training.synth.text import OfferText, make_offer_text

logger = logging.getLogger(__name__)

X_NAME = "X_train_update.csv"
Y_NAME = "Y_train_CVw08PX.csv"
IMAGE_SUBDIR = Path("images") / "image_train"
MANIFEST_NAME = "synth_manifest.json"
TAXONOMY_NAME = "taxonomy.json"


@dataclass(frozen=True)
class OfferPlan:
    """What one row will be, decided before any drawing."""

    code: int  # true content category
    label: int  # recorded label (differs from ``code`` for label noise)
    lang: str
    ambiguous: bool
    uninformative: bool
    confused: bool
    with_description: bool
    image_state: str  # "ok" | "missing" | "corrupt"


def allocate_classes(n: int, seed: int) -> list[int]:
    """Class of each row: shares follow the real train counts (largest remainder), shuffled."""
    cats = reference_categories()
    total = sum(c.train_count for c in cats)
    quotas = [n * c.train_count / total for c in cats]
    counts = [int(q) for q in quotas]
    order = sorted(range(len(cats)), key=lambda i: quotas[i] - counts[i], reverse=True)
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    codes = [c.prdtypecode for c, k in zip(cats, counts, strict=True) for _ in range(k)]
    random.Random(seed).shuffle(codes)
    return codes


def image_path(out: Path, imageid: int, productid: int) -> Path:
    return out / IMAGE_SUBDIR / f"image_{imageid}_product_{productid}.jpg"


def _plan(code: int, r: random.Random, cfg: SynthConfig, tree: SynthTree | None = None) -> OfferPlan:
    """Draws a fixed number of uniforms, so changing one rate does not reshuffle the other choices."""
    u_lang, u_amb, u_uninf, u_conf, u_noise, u_image, u_desc = (r.random() for _ in range(7))
    neighbour = r.choice(NEIGHBOURS[code]) if tree is None else tree.neighbour(code, r)
    lang = "fr"
    for candidate, share in cfg.language_mix:
        if u_lang < share:
            lang = candidate
            break
        u_lang -= share
    ambiguous = u_amb < cfg.ambiguous_text_rate
    # An ambiguous title always comes with a telling photo, else nothing could settle it.
    uninformative = not ambiguous and u_uninf < cfg.uninformative_image_rate
    confused = not ambiguous and not uninformative and u_conf < cfg.image_confusion_rate
    state = "ok"
    if u_image < cfg.missing_image_rate:
        state = "missing"
    elif u_image < cfg.missing_image_rate + cfg.corrupt_image_rate:
        state = "corrupt"
    label = neighbour if u_noise < cfg.label_noise else code
    with_description = u_desc >= cfg.missing_description_rate
    return OfferPlan(code, label, lang, ambiguous, uninformative, confused, with_description, state)


def generate_catalog(
    out: Path,
    n: int,
    seed: int,
    config: SynthConfig = SynthConfig(),
    progress: Callable[[int], None] | None = None,
    tree: SynthTree | None = None,
) -> SynthSummary:
    """Write ``n`` offers under ``out``; ``progress(k)`` is called after each offer with its count.

    ``tree`` (training.synth.hierarchy.make_tree): offers of its leaves, with long-tail counts,
    and the tree written beside them as ``taxonomy.json``; else the 27 reference codes."""
    if n < 1:
        raise ValueError("n must be at least 1")
    started = time.perf_counter()
    out = Path(out)
    (out / IMAGE_SUBDIR).mkdir(parents=True, exist_ok=True)
    codes = allocate_classes(n, seed) if tree is None else tree.allocate(n, seed)
    id_rng = np.random.default_rng([seed, 104729])
    productids = (id_rng.choice(4_000_000_000, size=n, replace=False) + 100_000_000).tolist()
    imageids = (id_rng.choice(1_300_000_000, size=n, replace=False) + 100_000_000).tolist()
    photos = PhotoMaker(seed, config)
    titles_by_code: dict[int, list[str]] = {}
    rows: list[dict[str, object]] = []
    labels: list[int] = []
    stats: Counter[str] = Counter()
    langs: Counter[str] = Counter()
    for i, code in enumerate(codes):
        r = random.Random(seed * 1_000_003 + i)
        nrng = np.random.default_rng([seed, i])
        plan = _plan(code, r, config, tree)
        look = code if tree is None else tree.by_code[code].base
        text = make_offer_text(r, look, plan.lang, plan.ambiguous, plan.with_description, config)
        if tree is not None:
            text = OfferText(
                decorate_title(r, tree, code, text.title, plan.ambiguous),
                decorate_description(r, tree, code, text.description, plan.ambiguous),
            )
        title = text.title
        previous = titles_by_code.get(code)
        if previous and r.random() < config.duplicate_title_rate:
            title = r.choice(previous)
            stats["duplicate_titles"] += 1
        titles_by_code.setdefault(code, []).append(title)
        rows.append({"designation": title, "description": text.description or None,
                     "productid": productids[i], "imageid": imageids[i]})  # fmt: skip
        labels.append(plan.label)
        langs[plan.lang] += 1
        stats["ambiguous_texts"] += plan.ambiguous
        stats["uninformative_images"] += plan.uninformative
        stats["noisy_labels"] += plan.label != plan.code
        stats["missing_descriptions"] += not text.description
        if plan.image_state != "missing":
            data = encode_jpeg(_photo(photos, code, nrng, plan, tree), config.jpeg_quality)
            if plan.image_state == "corrupt":
                data = data[: int(len(data) * r.uniform(0.2, 0.6))]
            image_path(out, imageids[i], productids[i]).write_bytes(data)
        stats[f"{plan.image_state}_images"] += 1
        if progress is not None:
            progress(i + 1)
    pd.DataFrame(rows, columns=["designation", "description", "productid", "imageid"]).to_csv(out / X_NAME)
    pd.DataFrame({"prdtypecode": labels}).to_csv(out / Y_NAME)
    summary = SynthSummary(
        out=out, n=n, seed=seed, x_csv=out / X_NAME, y_csv=out / Y_NAME, image_dir=out / IMAGE_SUBDIR,
        class_counts=dict(sorted(Counter(labels).items())), language_counts=dict(sorted(langs.items())),
        missing_images=stats["missing_images"], corrupt_images=stats["corrupt_images"],
        missing_descriptions=stats["missing_descriptions"], ambiguous_texts=stats["ambiguous_texts"],
        uninformative_images=stats["uninformative_images"], noisy_labels=stats["noisy_labels"],
        duplicate_titles=stats["duplicate_titles"], seconds=round(time.perf_counter() - started, 3),
    )  # fmt: skip
    _write_manifest(summary, config)
    if tree is not None:
        (out / TAXONOMY_NAME).write_text(tree.taxonomy_json(), "utf-8")
    logger.info(
        "synthetic catalog written", extra={"out": str(out), "n": n, "seed": seed, "seconds": summary.seconds}
    )
    return summary


def _photo(
    photos: PhotoMaker, code: int, rng: np.random.Generator, plan: OfferPlan, tree: SynthTree | None
) -> Image.Image:
    """The reference look of ``code``; in a tree, its department's look in its category's palette
    with its leaf's mark (a look-alike photo shows a sibling's mark)."""
    if tree is None:
        return photos.draw(code, rng, plan.uninformative, plan.confused)
    leaf = tree.by_code[code]
    shown = leaf
    if plan.confused:
        siblings = tree.siblings[code]
        shown = tree.by_code[siblings[int(rng.integers(len(siblings)))]]
    palette, mark = tree.palettes[leaf.category], partial(draw_mark, shown.mark)
    return photos.draw(leaf.base, rng, plan.uninformative, False, palette, mark)


def _write_manifest(summary: SynthSummary, config: SynthConfig) -> None:
    """Seed, knobs and counts next to the files (no timing: the files stay identical per seed)."""
    skip = {"seconds", "out", "x_csv", "y_csv", "image_dir"}
    body = {k: v for k, v in asdict(summary).items() if k not in skip}
    body["config"] = asdict(config)
    (summary.out / MANIFEST_NAME).write_text(json.dumps(body, indent=1, sort_keys=True, default=str), "utf-8")
