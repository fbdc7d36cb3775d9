"""A real-text development catalog: Debian package descriptions in five languages, labelled by
their archive section, written in the challenge layout.

Why: the synthetic generator's short descriptions and small vocabulary hid what made the served
text path lose to a TF-IDF + LinearSVC on a real multilingual catalog (hash collisions, the
feature cap, the solver). Debian's descriptions are real text that no one here wrote, with a
short title (the synopsis: ``designation``), a long body (``description``), a label chosen by
people (the ``Section``: games, sound, science...) and human translations into German, French,
Spanish and Italian (the Debian Description Translation Project). Everything comes through apt,
Debian's ordinary client, so it runs wherever ``apt-get update`` does (as root).

Labels: the package's ``Section`` from the ``Packages`` index, one of :data:`SECTIONS` (20
sections that say what a program is for; sections that say how it is packaged - libs, libdevel,
python, perl, ... - are left out: their descriptions are templates). Each description appears
once (distinct ``Description-md5``) in one language: the translation that matches the current
English text, chosen so the catalog's mix approaches :data:`LANGUAGES`. Paragraph marks (``.``
lines) become ``<br />`` so the descriptions carry HTML like a marketplace's. Licence: each
description is part of its package (DFSG-free licences); the translations are the DDTP's,
distributed by Debian in the same archive. See docs/benchmarks/training.md, "Real-text check".

    python -m training.real_text --out data/debian-text            # fetches, then writes
    python -m training.real_text --out DIR --lists /var/lib/apt/lists --n 3000
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training.data import X_FILE, Y_FILE

SECTIONS = (
    "admin", "database", "devel", "doc", "editors", "electronics", "fonts", "games", "gnome",
    "graphics", "kde", "mail", "math", "net", "science", "sound", "text", "utils", "video", "web",
)  # fmt: skip
"""What a program is for; each gets the code ``10 * (1 + its index)``."""
LANGUAGES = {"en": 0.30, "fr": 0.25, "de": 0.20, "it": 0.15, "es": 0.10}
"""Target share of each language (a language short of translations gives its share to others)."""
SUITE = "bookworm"
DEFAULT_LISTS = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "catalog" / "debian-lists"
APT_HELPER = "/usr/lib/apt/apt-helper"


@dataclass(frozen=True)
class Description:
    """One package's description in one language."""

    package: str
    language: str
    section: str
    title: str
    body: str


def fetch_lists(lists: Path) -> None:
    """``apt-get update`` into ``lists`` with the translations this machine's apt leaves out
    (Docker images set ``Acquire::Languages "none"``); the system's own lists are not touched."""
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as parts:
        config = Path(parts) / "apt.conf"
        languages = " ".join(f'"{code}";' for code in LANGUAGES)
        config.write_text(
            f'Dir::Etc::Parts "{parts}";\nDir::State::Lists "{lists}";\n'
            f'Acquire::Check-Valid-Until "false";\nAcquire::Languages {{ {languages} }};\n'
        )
        subprocess.run(["apt-get", "update"], check=True, env={**os.environ, "APT_CONFIG": str(config)})


def _read(path: str) -> str:
    """Any index apt wrote (plain, .gz, .lz4, .xz), decompressed by apt itself."""
    return subprocess.run([APT_HELPER, "cat-file", path], check=True, capture_output=True, text=True).stdout


def _paragraphs(text: str) -> Iterator[dict[str, str]]:
    """deb822 paragraphs: ``Field: value`` with continuation lines (leading space)."""
    fields: dict[str, str] = {}
    key = ""
    for line in text.split("\n"):
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, ""
        elif line[0] in " \t" and key:
            fields[key] += "\n" + line[1:]
        else:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    if fields:
        yield fields


def _index(lists: Path, pattern: str) -> str:
    found = sorted(glob.glob(str(lists / f"*_dists_{SUITE}_main_{pattern}*")))
    if not found:
        raise FileNotFoundError(f"No {SUITE} main {pattern} index in {lists}: run without --no-fetch.")
    return found[0]


def _body(long: str) -> str:
    paragraphs = [" ".join(p.split()) for p in long.replace("\n.\n", "\n\0\n").split("\0")]
    return "<br />".join(p for p in paragraphs if p and p != ".")


def read_descriptions(lists: Path) -> dict[str, list[Description]]:
    """Per package (of :data:`SECTIONS`, one per distinct description), its description in
    every language whose translation matches the current English text."""
    packages = _paragraphs(_read(_index(lists, "binary-amd64_Packages")))
    current: dict[str, tuple[str, str]] = {}
    seen: set[str] = set()
    for fields in packages:
        section = fields.get("Section", "").split("/")[-1]
        md5 = fields.get("Description-md5", "")
        if section in SECTIONS and md5 and md5 not in seen:
            seen.add(md5)
            current[fields["Package"]] = (md5, section)
    out: dict[str, list[Description]] = {}
    for language in LANGUAGES:
        for fields in _paragraphs(_read(_index(lists, f"i18n_Translation-{language}"))):
            md5, section = current.get(fields.get("Package", ""), ("", ""))
            text = fields.get(f"Description-{language}", "")
            if not md5 or fields.get("Description-md5") != md5 or not text:
                continue
            title, _, long = text.partition("\n")
            out.setdefault(fields["Package"], []).append(
                Description(fields["Package"], language, section, title.strip(), _body(long))
            )
    return out


def choose(descriptions: dict[str, list[Description]], n: int, seed: int) -> list[Description]:
    """``n`` packages at random (each at most once), each in the available language furthest
    below its :data:`LANGUAGES` share so far; no section over a fifth of the catalog."""
    rng = np.random.default_rng(seed)
    names = sorted(descriptions)
    order = rng.permutation(len(names))
    languages: Counter[str] = Counter()
    sections: Counter[str] = Counter()
    chosen: list[Description] = []
    for index in order:
        options = descriptions[names[index]]
        if sections[options[0].section] >= max(1, n // 5):
            continue
        total = len(chosen) + 1
        pick = max(options, key=lambda d: LANGUAGES[d.language] - languages[d.language] / total)
        chosen.append(pick)
        languages[pick.language] += 1
        sections[pick.section] += 1
        if len(chosen) == n:
            break
    return chosen


def write_catalog(chosen: list[Description], out: Path, seed: int) -> dict[str, object]:
    """The challenge layout (X: designation, description, productid, imageid; Y: prdtypecode)
    and ``sources.json``: where each row came from, the section -> code map, the language mix."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    product_ids = rng.choice(10**9, size=len(chosen), replace=False) + 10**9
    x = pd.DataFrame({
        "designation": [d.title for d in chosen],
        "description": [d.body for d in chosen],
        "productid": product_ids,
        "imageid": product_ids + 7,  # no photos: a text-only catalog
    })  # fmt: skip
    x.to_csv(out / X_FILE)
    codes = {section: 10 * (1 + i) for i, section in enumerate(SECTIONS)}
    pd.DataFrame({"prdtypecode": [codes[d.section] for d in chosen]}).to_csv(out / Y_FILE)
    summary: dict[str, object] = {
        "source": f"Debian {SUITE} main: Packages (Section) and i18n/Translation-{{{','.join(LANGUAGES)}}}",
        "offers": len(chosen),
        "codes": codes,
        "languages": dict(Counter(d.language for d in chosen).most_common()),
        "sections": dict(Counter(d.section for d in chosen).most_common()),
        "rows": [[d.package, d.language] for d in chosen],
    }
    (out / "sources.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m training.real_text",
        description="\n\n".join((__doc__ or "").split("\n\n")[:3]),  # what, source, labels, licence
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="Folder for the catalog (challenge layout).")
    parser.add_argument("--n", type=int, default=8000, help="Offers (distinct packages).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lists", type=Path, default=DEFAULT_LISTS, help="apt lists folder (fetched into).")
    parser.add_argument("--no-fetch", action="store_true", help="Use --lists as it is (no apt-get update).")
    args = parser.parse_args(argv)
    if not args.no_fetch:
        fetch_lists(args.lists)
    summary = write_catalog(choose(read_descriptions(args.lists), args.n, args.seed), args.out, args.seed)
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=1))


if __name__ == "__main__":
    main()
