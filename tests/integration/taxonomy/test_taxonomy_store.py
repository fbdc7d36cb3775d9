"""Taxonomy versions in a real database (SQLite and PostgreSQL): load, rename, new leaf, merge,
retire, drop; which codes take labels; old predictions read through merges on the dashboard."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.api.queries import PredictionFilter, category_distribution
from shared.contract import ListingSubmitted
from shared.db.listings import upsert_listings
from shared.db.session import session_scope, upgrade
from shared.taxonomy.files import parse_json, reference_taxonomy, to_json
from shared.taxonomy.model import Taxonomy, TaxonomyError
from shared.taxonomy.store import code_refusal, current_version, directory, load_taxonomy, stored_taxonomy
from tests.integration.lifecycle.helpers import write
from tests.support.factories import classified_event


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    upgrade(url)
    return url


def edited(base: Taxonomy, merges: dict[str, int] | None = None, **changes: dict[str, Any]) -> Taxonomy:
    """``base`` with entries changed (``{"10": {"name": ...}}``), added or removed (None)."""
    body = json.loads(to_json(base))
    by_code = {str(c["code"]): c for c in body["categories"]}
    for code, change in changes.get("codes", {}).items():
        if change is None:
            by_code.pop(code)
        else:
            by_code[code] = {**by_code.get(code, {"code": int(code)}), **change}
    return parse_json(json.dumps({"categories": list(by_code.values()), "merges": merges or {}}))


def test_load_rename_add_merge_retire_then_drop(db: str) -> None:
    reference = reference_taxonomy()
    with session_scope(db) as session:
        assert current_version(session).hash == reference.version  # type: ignore[union-attr]
        upsert_listings(session, [ListingSubmitted.new(f"L{i}", title=f"offer {i}") for i in range(5)])
    # a model trained before the merge predicts 2280 (3 listings) and 2403 (2)
    write(db, [classified_event(f"L{i}", 2280 if i < 3 else 2403, 0.5) for i in range(5)])

    v2 = edited(
        reference,
        merges={"2280": 2403},
        codes={
            "10": {"name": "Livres anciens"},
            "2999": {"name": "Livres audio", "parent": 90001, "names": {"en": "Audiobooks"}},
            "1301": {"retired": True},
        },
    )
    with session_scope(db) as session:
        result = load_taxonomy(session, v2, source="v2.json")
    assert result["changed"] and result["version"] == 2
    assert result["changes"]["added"] == [2999] and result["changes"]["retired"] == [1301]
    assert result["changes"]["renamed"] == {"10": ["Livres", "Livres anciens"]}
    assert result["changes"]["merged"] == {"2280": 2403}
    with session_scope(db) as session:
        assert load_taxonomy(session, v2, source="again")["changed"] is False  # same content, same version
        refusals = {code: code_refusal(session, code) for code in (1301, 2280, 90001, 7, 2999, 10)}
        codes = directory(session)
        stored = stored_taxonomy(session)
    assert {c: r.kind for c, r in refusals.items() if r} == {
        1301: "retired",
        2280: "merged",
        90001: "department",
        7: "unknown",
    }
    assert "merged into 2403 (Lots de Livres et de Revues): use 2403" in str(refusals[2280])
    assert codes[2999].path == "Livres & presse > Livres audio" and codes[10].name == "Livres anciens"
    assert stored is not None and stored.version == v2.version and 2999 in stored.live_leaves()

    with session_scope(db) as session:
        merged = category_distribution(session, PredictionFilter())
        departments = category_distribution(session, PredictionFilter(), level=1)
        elsewhere = category_distribution(session, PredictionFilter(), parent=90002)
    assert [(c["prdtypecode"], c["count"], c["merged_from"]) for c in merged["categories"]] == [
        (2403, 5, [2280])
    ]
    assert merged["categories"][0]["path"] == "Livres & presse > Lots de Livres et de Revues"
    assert [(c["prdtypecode"], c["count"], c["label"]) for c in departments["categories"]] == [
        (90001, 5, "Livres & presse")
    ]
    assert elsewhere["categories"] == [] and elsewhere["total"] == 0

    # v3 drops 2403 (listings use it) and 2280: refused unless allowed; then merges go on
    v3 = edited(v2, codes={"2403": None, "2280": None})
    with session_scope(db) as session, pytest.raises(TaxonomyError, match=r"codes \[2280, 2403\]"):
        load_taxonomy(session, v3, source="v3.json")
    v3b = edited(v2, merges={"2403": 2999}, codes={"2280": None})
    with session_scope(db) as session:
        load_taxonomy(session, v3b, source="v3b.json", allow_drop=True)
    with session_scope(db) as session:
        codes = directory(session)
        chained = category_distribution(session, PredictionFilter())
        dropped_refusal = code_refusal(session, 2280)
    assert codes[2280].merged_into == 2999 and codes[2403].merged_into == 2999  # chain followed
    assert [(c["prdtypecode"], c["count"]) for c in chained["categories"]] == [(2999, 5)]
    assert dropped_refusal is not None and dropped_refusal.kind == "merged"
