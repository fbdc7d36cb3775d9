"""A synthetic hierarchical taxonomy of N leaves (department > category > leaf) for the generator.

Why: the reference catalog has 27 flat classes; a marketplace has hundreds to thousands of
leaves in a tree, with a long tail of small classes (docs/taxonomy.md). Each department draws on
one reference category's vocabulary and photo look (so departments differ like Rakuten's
classes do); a category adds its own words and palette, shared by its leaves; a leaf adds its
own words and a mark on the photo. Siblings therefore share everything but the leaf's signal
and are the natural confusions (label noise, borrowed words and look-alike photos stay inside
the category), which makes "confusion between siblings vs. across departments" meaningful.

Everything is drawn from ``random.Random`` seeded by ``seed``: the same arguments give the same
tree, names and counts.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from PIL import ImageDraw

from shared.taxonomy.files import reference_taxonomy, to_json
from shared.taxonomy.model import Node, Taxonomy

#: Code spaces: leaves 100000+, categories 810001+, departments 800001+ (distinct, no overlap
#: with the reference prdtypecodes 10-2905 nor its departments 90001-90010).
LEAF_BASE, CATEGORY_BASE, DEPARTMENT_BASE = 100_000, 810_001, 800_001
#: Long tail: the first 10% of leaves (by a seeded shuffle) are the head, the next 30% the
#: torso, the rest the tail; their offer counts stand 5 : 2 : 1 (e.g. 25 / 10 / 5 offers).
BANDS = (("head", 0.1, 5), ("torso", 0.3, 2), ("tail", 0.6, 1))
LEAVES_PER_CATEGORY = 5
#: Chance that a leaf word of an offer is a sibling's (same category): sibling confusion.
SIBLING_OVERLAP = 0.15
#: Chance that a noisy label (SynthConfig.label_noise) goes to a sibling rather than any leaf.
SIBLING_NOISE = 0.8

# fmt: off
_SYLLABLES = (
    "ka", "ro", "mi", "ta", "ve", "lo", "ni", "sa", "du", "pe", "ri", "zo", "ba", "fe",
    "gu", "lan", "mor", "tis", "vel", "dan", "cor", "bri", "sel", "nor", "qua", "tre", "vin", "pol",
    "mar", "gal", "ser", "cas", "lum", "fen", "bor", "dis", "ter", "sol", "rav", "mon", "pra", "tal",
    "ven", "cel",
)
# fmt: on
_MARK_SHAPES = ("disc", "square", "triangle", "diamond", "ring", "bar")
_MARK_COLOURS = (
    (220, 30, 30), (30, 160, 60), (30, 70, 220), (250, 200, 0), (150, 40, 180),
    (0, 190, 200), (250, 120, 0), (20, 20, 20), (250, 90, 170), (120, 80, 30),
)  # fmt: skip
_CORNERS = ((0.04, 0.04), (0.78, 0.04), (0.04, 0.78), (0.78, 0.78))


@dataclass(frozen=True)
class Mark:
    """What tells a leaf's photo from its siblings': a small shape of one colour in one corner."""

    shape: str
    colour: tuple[int, int, int]
    corner: tuple[float, float]


@dataclass(frozen=True)
class SynthLeaf:
    code: int
    name: str
    category: int
    department: int
    base: int  # the reference prdtypecode whose vocabulary and photo look the department uses
    words: tuple[str, ...]  # the leaf's own words (model names a seller writes)
    mark: Mark
    band: str


@dataclass(frozen=True)
class SynthTree:
    """Departments and categories (code -> name), leaves, and each category's words and palette."""

    title: str
    departments: dict[int, tuple[str, int, tuple[str, ...]]]  # code -> (name, base code, words)
    categories: dict[int, tuple[str, int, tuple[str, ...]]]  # code -> (name, department, words)
    palettes: dict[int, tuple[tuple[int, int, int], ...]]  # category -> colours of its objects
    leaves: tuple[SynthLeaf, ...]

    @cached_property
    def by_code(self) -> dict[int, SynthLeaf]:
        return {leaf.code: leaf for leaf in self.leaves}

    @cached_property
    def siblings(self) -> dict[int, tuple[int, ...]]:
        members: dict[int, list[int]] = {}
        for leaf in self.leaves:
            members.setdefault(leaf.category, []).append(leaf.code)
        return {
            leaf.code: tuple(c for c in members[leaf.category] if c != leaf.code) or (leaf.code,)
            for leaf in self.leaves
        }

    def taxonomy(self) -> Taxonomy:
        nodes = [Node(c, name, None) for c, (name, _, _) in self.departments.items()]
        nodes += [Node(c, name, parent) for c, (name, parent, _) in self.categories.items()]
        nodes += [Node(leaf.code, leaf.name, leaf.category) for leaf in self.leaves]
        return Taxonomy.build(nodes, self.title)

    def taxonomy_json(self) -> str:
        """The tree as a taxonomy file (``catalog taxonomy load`` reads it)."""
        return to_json(self.taxonomy())

    def units(self) -> int:
        """Offer count of one tail offer per leaf: ``n = tail_offers * units()`` fills the bands exactly."""
        weight = {name: w for name, _, w in BANDS}
        return sum(weight[leaf.band] for leaf in self.leaves)

    def allocate(self, n: int, seed: int) -> list[int]:
        """The leaf of each of ``n`` rows: counts proportional to the band weights (largest
        remainder; every leaf gets at least one row when ``n`` allows), shuffled."""
        weight = {name: w for name, _, w in BANDS}
        total = self.units()
        quotas = [n * weight[leaf.band] / total for leaf in self.leaves]
        counts = [max(1, int(q)) if n >= len(self.leaves) else int(q) for q in quotas]
        order = sorted(range(len(quotas)), key=lambda i: quotas[i] - counts[i], reverse=True)
        missing = n - sum(counts)
        for i in order[: max(0, missing)]:
            counts[i] += 1
        for i in order[::-1]:  # the floor of one row per leaf may overshoot n: take back
            if sum(counts) <= n:
                break
            if counts[i] > 1:
                counts[i] -= 1
        codes = [leaf.code for leaf, k in zip(self.leaves, counts, strict=True) for _ in range(k)]
        random.Random(seed).shuffle(codes)
        return codes

    def neighbour(self, code: int, r: random.Random) -> int:
        """A confusable leaf: mostly a sibling, sometimes any leaf (another department's)."""
        if r.random() < SIBLING_NOISE:
            return r.choice(self.siblings[code])
        return self.leaves[r.randrange(len(self.leaves))].code

    def leaf_words(self, r: random.Random, code: int, ambiguous: bool) -> list[str]:
        """Words this offer adds to its title: the leaf's (borrowed from a sibling at
        ``SIBLING_OVERLAP``), its category's, sometimes its department's; an ambiguous offer
        only its category's (siblings then look alike, the photo's mark settles it)."""
        leaf = self.by_code[code]
        category_words = self.categories[leaf.category][2]
        if ambiguous:
            return [r.choice(category_words) for _ in range(r.randint(1, 2))]
        words = []
        for _ in range(r.randint(1, 2)):
            source = self.by_code[r.choice(self.siblings[code])] if r.random() < SIBLING_OVERLAP else leaf
            words.append(r.choice(source.words))
        if r.random() < 0.6:
            words.append(r.choice(category_words))
        if r.random() < 0.3:
            words.append(r.choice(self.departments[leaf.department][2]))
        r.shuffle(words)
        return words


def _word_maker(r: random.Random) -> Callable[[int], str]:
    used: set[str] = set()

    def make(syllables: int) -> str:
        while True:
            word = "".join(r.choice(_SYLLABLES) for _ in range(syllables))
            if word not in used:
                used.add(word)
                return word

    return make


def make_tree(n_leaves: int, n_departments: int, seed: int) -> SynthTree:
    """``n_leaves`` leaves in categories of ~5 under ``n_departments`` departments (3 levels)."""
    if n_leaves < 2:
        raise ValueError("a hierarchical catalog needs at least 2 leaves")
    if not 1 <= n_departments <= n_leaves:
        raise ValueError("departments must be between 1 and the number of leaves")
    if n_leaves > 99_999:
        raise ValueError("at most 99,999 leaves (the leaf code space)")
    r = random.Random(seed * 7_919 + n_leaves)
    word = _word_maker(r)
    reference = reference_taxonomy()
    bases = reference.live_leaves()
    r.shuffle(bases)
    n_categories = min(n_leaves, max(n_departments, round(n_leaves / LEAVES_PER_CATEGORY)))
    departments: dict[int, tuple[str, int, tuple[str, ...]]] = {}
    seen_names: dict[str, int] = {}
    for d in range(n_departments):
        base = bases[d % len(bases)]
        label = reference.name(base)
        seen_names[label] = seen_names.get(label, 0) + 1
        name = label if seen_names[label] == 1 else f"{label} {seen_names[label]}"
        departments[DEPARTMENT_BASE + d] = (name, base, tuple(word(2) for _ in range(3)))
    categories: dict[int, tuple[str, int, tuple[str, ...]]] = {}
    palettes: dict[int, tuple[tuple[int, int, int], ...]] = {}
    for c in range(n_categories):
        code = CATEGORY_BASE + c
        words = tuple(word(2) for _ in range(4))
        categories[code] = (words[0].capitalize(), DEPARTMENT_BASE + c % n_departments, words)
        palettes[code] = tuple((r.randrange(256), r.randrange(256), r.randrange(256)) for _ in range(4))
    ranks = list(range(n_leaves))
    r.shuffle(ranks)
    head, torso = round(n_leaves * BANDS[0][1]), round(n_leaves * (BANDS[0][1] + BANDS[1][1]))
    leaves: list[SynthLeaf] = []
    slot: dict[int, int] = {}
    for i in range(n_leaves):
        category = CATEGORY_BASE + i % n_categories
        k = slot[category] = slot.get(category, -1) + 1
        words = tuple(word(3) for _ in range(3))
        mark = Mark(
            _MARK_SHAPES[k % len(_MARK_SHAPES)],
            _MARK_COLOURS[(k // len(_MARK_SHAPES) + 3 * (category % 7)) % len(_MARK_COLOURS)],
            _CORNERS[(k // (len(_MARK_SHAPES) * len(_MARK_COLOURS)) + category) % len(_CORNERS)],
        )
        band = "head" if ranks[i] < head else "torso" if ranks[i] < torso else "tail"
        department = categories[category][1]
        leaves.append(SynthLeaf(
            LEAF_BASE + i, f"{categories[category][0]} {words[0].capitalize()}", category,
            department, departments[department][1], words, mark, band,
        ))  # fmt: skip
    title = (
        f"Synthetic taxonomy: {n_leaves} leaves, {n_categories} categories, "
        f"{n_departments} departments (seed {seed})"
    )
    return SynthTree(title, departments, categories, palettes, tuple(leaves))


def draw_mark(mark: Mark, draw: ImageDraw.ImageDraw, size: int) -> None:
    """The leaf's mark, ~16% of the photo's side, in its corner (what serving's 224 px still shows)."""
    side = int(size * 0.16)
    x0, y0 = int(mark.corner[0] * size), int(mark.corner[1] * size)
    box = (x0, y0, x0 + side, y0 + side)
    if mark.shape == "disc":
        draw.ellipse(box, fill=mark.colour)
    elif mark.shape == "square":
        draw.rectangle(box, fill=mark.colour)
    elif mark.shape == "triangle":
        draw.polygon([(x0 + side // 2, y0), (x0, y0 + side), (x0 + side, y0 + side)], fill=mark.colour)
    elif mark.shape == "diamond":
        half = side // 2
        draw.polygon([(x0 + half, y0), (x0 + side, y0 + half), (x0 + half, y0 + side), (x0, y0 + half)],
                     fill=mark.colour)  # fmt: skip
    elif mark.shape == "ring":
        draw.ellipse(box, outline=mark.colour, width=max(3, side // 6))
    else:
        draw.rectangle((x0, y0 + side // 3, x0 + side, y0 + 2 * side // 3), fill=mark.colour)


def decorate_title(r: random.Random, tree: SynthTree, code: int, title: str, ambiguous: bool) -> str:
    """The reference title of the department's base with the leaf's words before or after it."""
    words = " ".join(tree.leaf_words(r, code, ambiguous))
    return (f"{words} {title}" if r.random() < 0.5 else f"{title} {words}")[:250].strip()


def decorate_description(r: random.Random, tree: SynthTree, code: int, text: str, ambiguous: bool) -> str:
    """A description gains a paragraph naming the leaf (or only its category when ambiguous)."""
    if not text:
        return text
    return f"{text}<p>{' '.join(tree.leaf_words(r, code, ambiguous))}</p>"
