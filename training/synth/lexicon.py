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

#: Brands per category (borrowed from neighbours like any word); sellers of books cite publishers.
BRANDS: dict[int, str] = {
    10: "Gallimard|Folio|Flammarion|Le Livre de Poche|J'ai Lu|Pocket|Actes Sud|Seuil",
    2705: "Kindle|Kobo|Gallimard|Bragelonne|Harlequin|Librinova|Pocket",
    2280: "Prisma Media|Mondadori|Lagardère|Bayard|Le Figaro|Marie Claire",
    2403: "Harlequin|Dargaud|Glénat|Casterman|Le Livre de Poche|J'ai Lu|Bayard",
    40: "Ubisoft|EA|Activision|Square Enix|Capcom|Nintendo|Sony|Bandai Namco",
    50: "Nacon|Logitech|Thrustmaster|Turtle Beach|PowerA|Hori|Sony|Nintendo",
    60: "Sony|Microsoft|Nintendo|Sega|Atari",
    2462: "Sony|Nintendo|Sega|Microsoft|Atari",
    2905: "Steam|Ubisoft|EA|Bethesda|Paradox|CD Projekt",
    1140: "Funko|Bandai|Tsume|Hasbro|Banpresto|Schleich|Hot Toys",
    1160: "Pokémon|Wizards of the Coast|Konami|Panini|Upper Deck",
    1180: "Games Workshop|Wizards of the Coast|Black Book|Edge|Citadel",
    1280: "Vtech|Fisher-Price|Lego|Playmobil|Djeco|Janod|Mattel|Smoby",
    1281: "Asmodee|Hasbro|Ravensburger|Gigamic|Days of Wonder|Iello",
    1300: "Tamiya|Majorette|Burago|Revell|Syma|Parrot|DJI|Carson",
    1301: "Petit Bateau|Absorba|Sergent Major|Kiabi|Sterntaler",
    1320: "Chicco|Bébé Confort|Tommee Tippee|Babymoov|Maxi-Cosi|Avent",
    1302: "Decathlon|Nike|Adidas|Wilson|Kipsta|Quechua|Oxelo",
    1560: "Ikea|Maisons du Monde|Conforama|Vente-Unique|Alinea|Habitat",
    1920: "Linvosges|Tradilinge|Becquet|Essix|Today|Blanc des Vosges",
    1940: "Nespresso|Lipton|Bonne Maman|Nesquik|Kellogg's|Carte Noire|Lavazza",
    2060: "Atmosphera|Maisons du Monde|Yankee Candle|Lumineo|Hema",
    2220: "Zolux|Trixie|Royal Canin|Purina|Ferplast|Kong",
    2522: "Clairefontaine|Bic|Pilot|Oxford|Exacompta|Stabilo|Canon|HP",
    2582: "Hesperide|Ozalide|Keter|Dcb Garden|Proloisirs|Fermob",
    2583: "Intex|Bestway|Gré|Zodiac|Dolphin|Hayward|Kokido",
    2585: "Gardena|Bosch|Ryobi|Makita|Black+Decker|Fiskars|Stihl",
}

#: Category marks added to some titles ({k}: a number, {y}: a year, {w}/{h}: sizes).
TITLE_EXTRAS: dict[int, str] = {
    10: "Tome {k}|({y})|Édition {y}|ISBN 978{w}{h}",
    2705: "(ebook)|- epub|[ebook]|Format Kindle|édition numérique",
    2280: "N° {k}|N°{k} du {d}/{m}/{y}|Numéro {k}|{m}/{y}|Hors-Série N° {k}",
    2403: "Lot de {k} livres|Lot de {k}|lot {k} magazines|{k} volumes",
    40: "PS4|PS3|Xbox 360|Xbox One|Switch|Wii|DS|PS2|PC",
    50: "PS4|Xbox One|Switch|PS3|Wii U",
    60: "{k} Go|{k}GB|PAL|Édition limitée",
    2462: "+ {k} jeux|avec {k} jeux|+ {k} games",
    2905: "PC|Steam Key|Code|PC/Mac",
    1160: "{k}/{w}|Série {k}|Booster",
    1300: "1/{k}|{k} km/h|2.4GHz",
    1301: "{k} paires|Taille {k}-{w}",
    1920: "{w}x{h} cm|{w} x {h}",
    2583: "{k} m3/h|{w}x{h}x{k} cm|{k} L",
    2582: "{w}x{h} cm|{k} places",
    1940: "{k} g|{k} capsules|x{k}",
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
