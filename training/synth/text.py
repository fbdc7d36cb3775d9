"""Titles and HTML descriptions of synthetic offers.

Words come from the category's own vocabulary, borrowed at a configurable rate from its
confusable neighbours; ambiguous offers use only their group's shared words.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

from training.synth import tail
from training.synth.config import SynthConfig
from training.synth.lexicon import (
    AUTHORS,
    BRANDS,
    CATEGORY_WORDS,
    GENERIC,
    GROUP_OF,
    GROUP_WORDS,
    NEIGHBOURS,
    TITLE_EXTRAS,
    TITLE_WORDS,
)

_SENTENCES: dict[str, tuple[str, ...]] = {
    "fr": (
        "Ce {n} {q} est parfait pour un usage quotidien.",
        "Découvrez notre {n} : {q}, {x} et {g}.",
        "{N} {q}, livré {x}, idéal pour offrir.",
        "Article {x} en très bon état, {g} soigné.",
        "Vendu par un professionnel, {n} {q} conforme à la description.",
        "Idéal pour les amateurs de {g} : {n} {q}.",
        "Expédition sous 48h, emballage soigné, {x}.",
        "Caractéristiques du {n} : {q}, {q2}.",
        "Le {n} {q} se distingue par sa qualité et son prix.",
        "Produit {x}, garantie 2 ans, retour gratuit sous 14 jours.",
    ),
    "en": (
        "This {n} is {q} and perfect for everyday use.",
        "Discover our {n}: {q}, {x} and {g}.",
        "{N} {q}, shipped {x}, a great gift idea.",
        "Item in {x} condition, {g} included.",
        "Sold by a professional seller, {n} {q} as described.",
        "Features of the {n}: {q}, {q2}.",
        "Ships within 48 hours, carefully packed.",
    ),
    "de": (
        "Dieses {n} ist {q} und ideal für jeden Tag.",
        "Entdecken Sie unser {n}: {q}, {x}.",
        "{N} {q}, {g}, schneller Versand.",
        "Artikel {x}, wie beschrieben.",
    ),
    "it": (
        "Questo {n} {q} è perfetto per l'uso quotidiano.",
        "Scopri il nostro {n}: {q}, {x}.",
        "{N} {q}, {g}, spedizione veloce.",
        "Articolo {x}, come da descrizione.",
    ),
    "es": (
        "Este {n} {q} es perfecto para el uso diario.",
        "Descubre nuestro {n}: {q}, {x}.",
        "{N} {q}, {g}, envío rápido.",
        "Artículo {x}, tal como se describe.",
    ),
}

_BOILERPLATE: dict[str, tuple[str, ...]] = {
    "fr": (
        "Conditions de vente : le paiement doit être effectué sous 7 jours. Les frais de port sont "
        "calculés selon le poids du colis et la destination.",
        "Nos produits sont contrôlés avant expédition. En cas de problème, contactez-nous avant de laisser "
        "une évaluation, nous trouverons une solution.",
        "Les couleurs peuvent légèrement différer de la photo selon les réglages de votre écran.",
        "Garantie légale de conformité et garantie des vices cachés selon les articles L217-4 et suivants.",
    ),
    "en": (
        "Terms of sale: payment is due within 7 days. Shipping costs depend on weight and destination.",
        "All items are checked before shipping. Please contact us before leaving feedback.",
        "Colours may differ slightly from the picture depending on your screen settings.",
    ),
    "de": ("Versandkosten richten sich nach Gewicht und Zielort.", "Farben können leicht abweichen."),
    "it": ("Le spese di spedizione dipendono dal peso.", "I colori possono variare leggermente."),
    "es": ("Los gastos de envío dependen del peso.", "Los colores pueden variar ligeramente."),
}

_SPEC_KEYS: dict[str, tuple[str, ...]] = {
    "fr": ("Matière", "Dimensions", "Poids", "Couleur", "Référence", "Marque", "Contenu", "Garantie"),
    "en": ("Material", "Dimensions", "Weight", "Colour", "Reference", "Brand", "Contents", "Warranty"),
    "de": ("Material", "Maße", "Gewicht", "Farbe", "Marke"),
    "it": ("Materiale", "Dimensioni", "Peso", "Colore", "Marca"),
    "es": ("Material", "Dimensiones", "Peso", "Color", "Marca"),
}

_ENTITIES = {
    "é": "&eacute;", "è": "&egrave;", "ê": "&ecirc;", "à": "&agrave;", "ç": "&ccedil;", "ù": "&ugrave;",
    "ô": "&ocirc;", "î": "&icirc;", "â": "&acirc;", "ë": "&euml;", "ï": "&iuml;", "ü": "&uuml;",
    "ö": "&ouml;", "ä": "&auml;", "ñ": "&ntilde;", "ß": "&szlig;", "'": "&#39;", "°": "&deg;",
}  # fmt: skip


@cache
def _split(raw: str) -> tuple[str, ...]:
    return tuple(w for w in raw.split("|") if w)


@dataclass(frozen=True)
class OfferText:
    title: str
    description: str  # "" when the offer has none


def _pick(rng: random.Random, raw: str) -> str:
    return rng.choice(_split(raw))


def _cat_word(rng: random.Random, code: int, lang: str, slot: int, cfg: SynthConfig) -> str:
    """A noun (slot 0) or qualifier (slot 1) of ``code``, borrowed from a neighbour at ``vocab_overlap``
    (from the category's long tail at ``tail_word_rate``)."""
    if cfg.tail_word_rate and rng.random() < cfg.tail_word_rate:
        return tail.category_word(rng, code, lang, cfg)
    source = rng.choice(NEIGHBOURS[code]) if rng.random() < cfg.vocab_overlap else code
    return _pick(rng, CATEGORY_WORDS[source][lang][slot])


def _generic(rng: random.Random, lang: str, cfg: SynthConfig) -> str:
    """A word any category uses (from the shared filler pool at ``filler_word_rate``)."""
    if cfg.filler_word_rate and rng.random() < cfg.filler_word_rate:
        return tail.filler_word(rng, lang, cfg)
    return _pick(rng, GENERIC[lang])


def _group_word(rng: random.Random, code: int, lang: str) -> str:
    return _pick(rng, GROUP_WORDS[GROUP_OF[code]][lang])


def _case(rng: random.Random, text: str) -> str:
    r = rng.random()
    if r < 0.45:
        return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))
    if r < 0.55:
        return text.upper()
    return text[:1].upper() + text[1:]


def _extra(rng: random.Random, code: int) -> str:
    return _pick(rng, TITLE_EXTRAS[code]).format(
        k=rng.choice((2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 24, 32, 50, 64, 120, 500, rng.randint(1, 3000))),
        y=rng.randint(1965, 2020),
        d=f"{rng.randint(1, 28):02d}",
        m=f"{rng.randint(1, 12):02d}",
        w=rng.choice((40, 50, 60, 80, 90, 140, 160, 180, 200, 240)),
        h=rng.choice((40, 60, 190, 200, 220, 260)),
    )


def make_title(rng: random.Random, code: int, lang: str, ambiguous: bool, cfg: SynthConfig) -> str:
    """A seller's title: product words, maybe brand, book/game name, generic words; <= 250 chars."""
    group = GROUP_OF[code]
    if ambiguous:
        words = [_group_word(rng, code, lang) for _ in range(rng.randint(1, 3))]
    else:
        words = [_cat_word(rng, code, lang, 0, cfg)]
        words += [_cat_word(rng, code, lang, 1, cfg) for _ in range(rng.randint(0, 2))]
        if rng.random() < 0.3:
            words.insert(rng.randint(0, len(words)), _group_word(rng, code, lang))
    parts: list[str] = []
    if group in ("read", "game") and rng.random() < 0.8:
        name = " ".join(_pick(rng, TITLE_WORDS[lang]) for _ in range(rng.randint(1, 4)))
        parts.append(name.capitalize())
        if group == "read" and rng.random() < 0.5:
            parts.append(_pick(rng, AUTHORS))
    if rng.random() < 0.4:
        source = rng.choice(NEIGHBOURS[code]) if rng.random() < cfg.vocab_overlap else code
        parts.append(_pick(rng, BRANDS[source]))
    if not ambiguous and code in TITLE_EXTRAS and rng.random() < 0.5:
        parts.append(_extra(rng, code))
    body = " ".join(words)
    parts.insert(rng.randint(0, len(parts)), body)
    for _ in range(rng.randint(0, 2)):
        parts.append(_generic(rng, lang, cfg))
    if rng.random() < 0.25:
        parts.append(
            rng.choice(("x2", "x3", f"{rng.randint(10, 200)} cm", f"réf {rng.randint(1000, 99999)}"))
        )
    sep = rng.choice((" ", " - ", " ", ", ", " | "))
    title = _case(rng, sep.join(parts))
    return title[:250].strip()


def _sentence(rng: random.Random, code: int, lang: str, ambiguous: bool, cfg: SynthConfig) -> str:
    frame = rng.choice(_SENTENCES[lang])
    if ambiguous:
        noun, q, q2 = (_group_word(rng, code, lang) for _ in range(3))
    else:
        noun = _cat_word(rng, code, lang, 0, cfg)
        q, q2 = _cat_word(rng, code, lang, 1, cfg), _cat_word(rng, code, lang, 1, cfg)
    return frame.format(
        n=noun,
        N=noun[:1].upper() + noun[1:],
        q=q,
        q2=q2,
        x=_generic(rng, lang, cfg),
        g=_group_word(rng, code, lang),
    )


def _paragraph(rng: random.Random, code: int, lang: str, ambiguous: bool, cfg: SynthConfig) -> str:
    return " ".join(_sentence(rng, code, lang, ambiguous, cfg) for _ in range(rng.randint(1, 4)))


def _spec_list(rng: random.Random, code: int, lang: str, ambiguous: bool, cfg: SynthConfig) -> str:
    keys = rng.sample(_SPEC_KEYS[lang], k=min(len(_SPEC_KEYS[lang]), rng.randint(2, 6)))
    items = []
    for key in keys:
        value = _group_word(rng, code, lang) if ambiguous else _cat_word(rng, code, lang, 1, cfg)
        if rng.random() < 0.3:
            value = f"{rng.randint(1, 300)} {rng.choice(('cm', 'mm', 'g', 'kg', 'ml'))}"
        items.append(f"<li><b>{key}</b> : {value}</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _entities(rng: random.Random, html_text: str) -> str:
    """Accents as named entities, like many sellers' back offices; sometimes double-escaped."""
    out = html_text.replace("&", "&amp;") if "&" in html_text and rng.random() < 0.3 else html_text
    out = "".join(_ENTITIES.get(ch, ch) for ch in out)
    if rng.random() < 0.15:
        out = out.replace("&eacute;", "&amp;eacute;")
    return out


def make_description(
    rng: random.Random, code: int, lang: str, ambiguous: bool, title: str, cfg: SynthConfig
) -> str:
    """An HTML description; long ones stack sections up to ``cfg.max_description_chars``."""
    if rng.random() < 0.04:
        return title  # some sellers paste the title as description
    long = rng.random() < cfg.long_description_rate
    target = rng.randint(2000, cfg.max_description_chars) if long else rng.randint(*cfg.description_chars)
    blocks: list[str] = []
    size = 0
    while size < target:
        kind = rng.random()
        if kind < 0.5:
            block = f"<p>{_paragraph(rng, code, lang, ambiguous, cfg)}</p>"
        elif kind < 0.7:
            block = _spec_list(rng, code, lang, ambiguous, cfg)
        elif kind < 0.85:
            block = _paragraph(rng, code, lang, ambiguous, cfg) + "<br />"
        else:
            block = f"<p><i>{rng.choice(_BOILERPLATE[lang])}</i></p>"
        blocks.append(block)
        size += len(block)
    text = rng.choice(("", "\n")).join(blocks)
    if rng.random() < cfg.html_entity_rate:
        text = _entities(rng, text)
    if len(text) > cfg.max_description_chars:
        cut = text.rfind(" ", 0, cfg.max_description_chars)
        text = text[: cut if cut > 0 else cfg.max_description_chars]
    return text


def make_offer_text(
    rng: random.Random, code: int, lang: str, ambiguous: bool, with_description: bool, cfg: SynthConfig
) -> OfferText:
    title = make_title(rng, code, lang, ambiguous, cfg)
    description = make_description(rng, code, lang, ambiguous, title, cfg) if with_description else ""
    return OfferText(title=title, description=description)
