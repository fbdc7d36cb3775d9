"""Difficulty knobs of the synthetic catalog, in one place.

The defaults were calibrated with ``training/synth/calibrate.py`` (see docs/benchmarks/synth.md) so
that text alone is good but not perfect, images are weaker, and fusing both pays off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SynthConfig:
    """How hard and how messy the synthetic catalog is.

    Rates are probabilities per offer unless stated otherwise.
    """

    # --- languages (the rest of the mass, after these, is French) ---
    #: Share of offers written in English, German, Italian, Spanish (French ~75%).
    language_mix: tuple[tuple[str, float], ...] = (("en", 0.12), ("de", 0.05), ("it", 0.04), ("es", 0.04))

    # --- labels ---
    #: Offers whose recorded label is a confusable neighbour (sellers pick the wrong category).
    label_noise: float = 0.03

    # --- text ---
    #: Offers whose title only uses words shared by the confusable group (only the photo settles it).
    ambiguous_text_rate: float = 0.12
    #: Chance that each content word is borrowed from a confusable neighbour's vocabulary.
    vocab_overlap: float = 0.14
    #: Offers without description (empty cell in the CSV).
    missing_description_rate: float = 0.35
    #: Share of descriptions that are long (several HTML sections, up to ``max_description_chars``).
    long_description_rate: float = 0.04
    #: Longest description, in characters of HTML.
    max_description_chars: int = 12000
    #: Descriptions that write accents as HTML entities (&eacute;) and double-escape some (&amp;).
    html_entity_rate: float = 0.4
    #: Offers that reuse the exact title of an earlier offer of the same category.
    duplicate_title_rate: float = 0.03
    #: Characters of HTML of a (not long) description: drawn uniformly in this range.
    description_chars: tuple[int, int] = (60, 900)
    #: Chance that a product word comes from its category's long tail (training.synth.tail;
    #: 0: the closed word lists only, as the default catalog).
    tail_word_rate: float = 0.0
    #: Chance that a generic word (condition, colour, shipping) comes from the shared filler pool.
    filler_word_rate: float = 0.0
    #: Pseudo-words of each category's long tail, and of the pool all categories share.
    tail_vocabulary: int = 4000
    filler_vocabulary: int = 40000
    #: Zipf exponent of both: a few frequent words, most seen once or never.
    tail_exponent: float = 1.0

    # --- images ---
    #: Offers whose photo tells nothing ("no image" icon, shipping box, shop logo): the text settles it.
    uninformative_image_rate: float = 0.12
    #: Offers whose photo is drawn in a confusable neighbour's style.
    image_confusion_rate: float = 0.15
    #: Standard deviation of the Gaussian pixel noise (0-255 scale).
    image_noise: float = 10.0
    #: Largest rotation of the object, in degrees.
    max_rotation: float = 25.0
    #: Range of object scale relative to the frame.
    scale_range: tuple[float, float] = (0.45, 0.95)
    #: Photos with text-like strokes (stickers, prices, watermarks).
    text_stroke_rate: float = 0.35
    #: Offers whose image file is absent.
    missing_image_rate: float = 0.01
    #: Offers whose image file is truncated (corrupt JPEG).
    corrupt_image_rate: float = 0.01
    #: Side of the square photos, in pixels.
    image_size: int = 500
    #: JPEG quality of the photos.
    jpeg_quality: int = 85


REAL_LENGTH = SynthConfig(
    missing_description_rate=0.35,
    description_chars=(40, 800),
    long_description_rate=0.05,
    tail_word_rate=0.3,
    filler_word_rate=0.5,
)
"""``catalog synth --text real-length``: offer lengths and vocabulary like a real marketplace's
(median ~41 words, ~14% over 100 words, tens of thousands of distinct words in a few thousand
offers, half seen once); measured in docs/benchmarks/synth.md."""
TEXT_MODES = {"standard": SynthConfig(), "real-length": REAL_LENGTH}


@dataclass(frozen=True)
class SynthSummary:
    """What ``generate_catalog`` wrote (counts let tests and logs check the mix)."""

    out: Path
    n: int
    seed: int
    x_csv: Path
    y_csv: Path
    image_dir: Path
    class_counts: dict[int, int] = field(default_factory=dict)
    language_counts: dict[str, int] = field(default_factory=dict)
    missing_images: int = 0
    corrupt_images: int = 0
    missing_descriptions: int = 0
    ambiguous_texts: int = 0
    uninformative_images: int = 0
    noisy_labels: int = 0
    duplicate_titles: int = 0
    seconds: float = 0.0
