# ruff: noqa: E501
"""Per-category vocabulary of the synthetic offers, in five languages.

Each category has product nouns and qualifiers per language; confusable neighbours share the
group words (``GROUP_WORDS``) so that some titles cannot be told apart without the photo.
Entries are ``|``-separated to keep this table readable.
"""

from __future__ import annotations

from training.synth.words import CATEGORY_WORDS

__all__ = ["CATEGORY_WORDS"]

LANGS = ("fr", "en", "de", "it", "es")

#: Confusable neighbours of each category (label noise, vocabulary overlap, look-alike photos).
NEIGHBOURS: dict[int, tuple[int, ...]] = {
    10: (2705, 2403, 2280),
    2705: (10, 2403, 2905),
    2280: (2403, 10, 2522),
    2403: (10, 2280, 2705),
    40: (2905, 2462, 60, 50),
    50: (60, 40, 2462),
    60: (2462, 50, 40),
    2462: (60, 40, 50),
    2905: (40, 2705, 50),
    1140: (1180, 1280, 1160),
    1160: (1281, 1180, 1140),
    1180: (1140, 1281, 1160),
    1280: (1281, 1300, 1140, 1320),
    1281: (1280, 1160, 1180),
    1300: (1280, 1140, 1302),
    1301: (1320, 1920, 1280),
    1320: (1301, 1280, 1560),
    1302: (2583, 2585, 1300),
    1560: (2060, 2582, 1920),
    1920: (1560, 2060, 1301),
    2060: (1560, 1920, 2522),
    1940: (2220, 1560, 2060),
    2220: (1940, 1560, 2060),
    2522: (2060, 2280, 10),
    2582: (2585, 1560, 2583),
    2583: (2582, 1302, 2585),
    2585: (2582, 2583, 1302),
}

#: Group of each category: the words any member may use (the ambiguous titles draw only from these).
GROUP_OF: dict[int, str] = {
    **dict.fromkeys((10, 2705, 2280, 2403), "read"),
    **dict.fromkeys((40, 50, 60, 2462, 2905), "game"),
    **dict.fromkeys((1140, 1160, 1180, 1280, 1281, 1300), "toy"),
    **dict.fromkeys((1301, 1320), "baby"),
    **dict.fromkeys((1560, 1920, 2060, 1940, 2220, 2522), "home"),
    **dict.fromkeys((2582, 2583, 2585, 1302), "garden"),
}

GROUP_WORDS: dict[str, dict[str, str]] = {
    "read": {
        "fr": "collection|édition|volume|tome|auteur|lecture|roman|histoire|numéro|recueil|bon état|occasion",
        "en": "collection|edition|volume|author|reading|story|novel|issue|good condition|used",
        "de": "Sammlung|Ausgabe|Band|Autor|Geschichte|Roman|gebraucht",
        "it": "collezione|edizione|volume|autore|storia|romanzo|usato",
        "es": "colección|edición|volumen|autor|historia|novela|usado",
    },
    "game": {
        "fr": "jeu|jeux|console|édition|version|collector|pal|fr|neuf|complet|gamer|manette",
        "en": "game|games|console|edition|version|collector|pal|new|complete|gamer|controller",
        "de": "Spiel|Spiele|Konsole|Edition|Version|Sammler|neu|komplett",
        "it": "gioco|giochi|console|edizione|versione|nuovo|completo",
        "es": "juego|juegos|consola|edición|versión|nuevo|completo",
    },
    "toy": {
        "fr": "jouet|enfant|jeu|figurine|collection|boîte|cadeau|dès 3 ans|garçon|fille|personnage|pièces",
        "en": "toy|kids|game|figure|collection|box|gift|ages 3+|boy|girl|character|pieces",
        "de": "Spielzeug|Kinder|Spiel|Figur|Sammlung|Geschenk|Junge|Mädchen",
        "it": "giocattolo|bambini|gioco|figura|collezione|regalo|bambino|bambina",
        "es": "juguete|niños|juego|figura|colección|regalo|niño|niña",
    },
    "baby": {
        "fr": "bébé|naissance|nourrisson|doux|coton|mois|enfant|cadeau de naissance|taille",
        "en": "baby|newborn|infant|soft|cotton|months|child|baby shower|size",
        "de": "Baby|Neugeborene|weich|Baumwolle|Monate|Kind",
        "it": "neonato|bebè|morbido|cotone|mesi|bambino",
        "es": "bebé|recién nacido|suave|algodón|meses|niño",
    },
    "home": {
        "fr": "maison|intérieur|salon|cuisine|chambre|qualité|design|moderne|lot|accessoire|pratique",
        "en": "home|indoor|living room|kitchen|bedroom|quality|design|modern|set|accessory|handy",
        "de": "Haus|Wohnzimmer|Küche|Schlafzimmer|Qualität|modern|Set|Zubehör",
        "it": "casa|soggiorno|cucina|camera|qualità|moderno|set|accessorio",
        "es": "casa|salón|cocina|dormitorio|calidad|moderno|set|accesorio",
    },
    "garden": {
        "fr": "jardin|extérieur|terrasse|résistant|été|plein air|outil|loisirs|piscine|balcon",
        "en": "garden|outdoor|patio|weatherproof|summer|open air|tool|leisure|pool|balcony",
        "de": "Garten|Terrasse|wetterfest|Sommer|Werkzeug|Freizeit|Balkon",
        "it": "giardino|esterno|terrazza|resistente|estate|attrezzo|tempo libero",
        "es": "jardín|exterior|terraza|resistente|verano|herramienta|ocio",
    },
}


#: Words any offer may use, per language (condition, colours, shipping): noise shared by all classes.
GENERIC: dict[str, str] = {
    "fr": "neuf|occasion|très bon état|noir|blanc|rouge|bleu|vert|gris|rose|lot|pack|livraison rapide|"
    "garantie|qualité|original|cadeau|taille unique|grand|petit|nouveau|promo|stock",
    "en": "new|used|very good condition|black|white|red|blue|green|grey|pink|set|pack|fast shipping|"
    "warranty|quality|original|gift|one size|large|small|sale",
    "de": "neu|gebraucht|sehr gut|schwarz|weiß|rot|blau|grün|grau|Set|schneller Versand|Qualität|Geschenk",
    "it": "nuovo|usato|ottimo stato|nero|bianco|rosso|blu|verde|grigio|set|spedizione veloce|qualità|regalo",
    "es": "nuevo|usado|muy buen estado|negro|blanco|rojo|azul|verde|gris|set|envío rápido|calidad|regalo",
}

BRANDS: dict[str, str] = {
    "read": "Gallimard|Folio|Hachette|Flammarion|Pocket|Le Livre de Poche|J'ai Lu|Dargaud|Glénat|Penguin",
    "game": "Sony|Microsoft|Nintendo|Sega|Ubisoft|EA|Activision|Bandai Namco|Square Enix|Capcom",
    "toy": "Mattel|Hasbro|Lego|Playmobil|Bandai|Vtech|Djeco|Ravensburger|Asmodee|Tamiya",
    "baby": "Chicco|Bébé Confort|Tommee Tippee|Petit Bateau|Babymoov|Maxi-Cosi|Aden",
    "home": "Ikea|Maisons du Monde|Atmosphera|Tefal|Le Creuset|Zolux|Clairefontaine|Bic|Nespresso|Dodo",
    "garden": "Intex|Bestway|Hesperide|Gardena|Bosch|Ryobi|Decathlon|Keter|Ozalide",
}

#: Filler words of book, magazine and game titles (shared across the reading and game groups).
TITLE_WORDS: dict[str, str] = {
    "fr": "secret|nuit|mémoires|jardin|mer|voyage|ombre|amour|guerre|soleil|enfants|maison|mystère|dernier|"
    "temps|ville|coeur|chemin|silence|lumière|roi|empire|légende|aventure|histoire|monde|rêve",
    "en": "secret|night|memories|garden|sea|journey|shadow|love|war|sun|children|house|mystery|last|"
    "time|city|heart|road|silence|light|king|empire|legend|adventure|world|dream",
    "de": "Geheimnis|Nacht|Garten|Meer|Reise|Schatten|Liebe|Krieg|Sonne|Haus|Zeit|Stadt|Herz|König",
    "it": "segreto|notte|giardino|mare|viaggio|ombra|amore|guerra|sole|casa|tempo|città|cuore|re",
    "es": "secreto|noche|jardín|mar|viaje|sombra|amor|guerra|sol|casa|tiempo|ciudad|corazón|rey",
}

AUTHORS = (
    "Victor Hugo|Émile Zola|Albert Camus|Marguerite Duras|Guillaume Musso|Marc Levy|Fred Vargas|Joël Dicker|"
    "Stephen King|Agatha Christie|J.K. Rowling|Umberto Eco|Isabel Allende|Thomas Mann|Amélie Nothomb|Collectif"
)
