"""A 1,000-leaf synthetic taxonomy (training.synth.hierarchy) through PostgreSQL and the API:
loaded as the current tree, predictions of leaf codes written by the writer, the distribution
rolled up to departments and drilled down, labels with leaf codes accepted, a retired leaf
refused, the labelling menu listing every leaf with its path."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.cli.wiring import api_app
from shared.config import Settings
from shared.contract import ListingSubmitted, utcnow
from shared.db.listings import upsert_listings
from shared.db.session import session_scope, upgrade
from shared.ml.model_repo import LabelSpec, Manifest, publish_manifest
from shared.taxonomy.files import parse_json
from shared.taxonomy.store import load_taxonomy
from tests.conftest import REDIS_URL
from tests.integration.lifecycle.helpers import write
from tests.support.factories import classified_event
from training.synth.hierarchy import SynthTree, make_tree

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
N_LISTINGS = 120


@pytest.fixture(scope="module")
def tree() -> SynthTree:
    return make_tree(1000, 40, seed=0)


@pytest.fixture
def client(tree: SynthTree, postgres_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[TestClient]:
    taxonomy = tree.taxonomy()
    repo = tmp_path / "repo"
    publish_manifest(repo, Manifest(
        version="r1-synth", revision=1, created_at=utcnow(), taxonomy_version=taxonomy.version,
        labels=[LabelSpec(prdtypecode=c, name=taxonomy.name(c)) for c in taxonomy.live_leaves()],
    ))  # fmt: skip
    upgrade(postgres_url)
    with session_scope(postgres_url) as session:
        result = load_taxonomy(session, taxonomy, source="synth-1000")
        assert result["changed"] and len(result["changes"]["added"]) == 1000 + 200 + 40
        upsert_listings(
            session, [ListingSubmitted.new(f"L{i}", title=f"offer {i}") for i in range(N_LISTINGS)]
        )
    predicted = tree.allocate(N_LISTINGS, seed=1)
    write(postgres_url, [classified_event(f"L{i}", code, 0.6, model_version="r1-synth")
                         for i, code in enumerate(predicted)])  # fmt: skip
    settings = Settings(redis_url=REDIS_URL, stream_prefix=redis_prefix, database_url=postgres_url,
                        api_token=TOKEN, model_repository=repo, drift_interval_s=0)  # fmt: skip
    with TestClient(api_app(settings)) as c:
        c.predicted = predicted  # type: ignore[attr-defined]
        yield c


def test_distribution_rolls_up_and_drills_down(client: TestClient, tree: SynthTree) -> None:
    predicted: list[int] = client.predicted  # type: ignore[attr-defined]
    leaves = client.get("/v1/stats/distribution").json()
    assert leaves["total"] == N_LISTINGS
    assert {c["prdtypecode"]: c["count"] for c in leaves["categories"]} == Counter(predicted)
    first = leaves["categories"][0]
    assert first["path"].count(" > ") == 2 and first["label"] == tree.by_code[first["prdtypecode"]].name

    departments = client.get("/v1/stats/distribution", params={"level": 1}).json()["categories"]
    expected = Counter(tree.by_code[c].department for c in predicted)
    assert {c["prdtypecode"]: c["count"] for c in departments} == expected
    assert all(c["level"] == 1 and not c["leaf"] and " > " not in c["path"] for c in departments)

    top = departments[0]["prdtypecode"]
    categories = client.get("/v1/stats/distribution", params={"level": 2, "parent": top}).json()["categories"]
    assert sum(c["count"] for c in categories) == departments[0]["count"]
    assert all(tree.categories[c["prdtypecode"]][1] == top for c in categories)
    category = categories[0]["prdtypecode"]
    drilled = client.get("/v1/stats/distribution", params={"parent": category}).json()["categories"]
    assert {c["prdtypecode"] for c in drilled} == {
        c for c in predicted if tree.by_code[c].category == category
    }


def test_leaf_labels_accepted_retired_refused_menu_has_every_leaf(
    client: TestClient, tree: SynthTree, postgres_url: str
) -> None:
    menu = client.get("/v1/categories").json()
    assert len(menu) == 1000 and all(item["path"].count(" > ") == 2 for item in menu)
    leaf, retired = tree.leaves[0], tree.leaves[1]
    ok = client.post("/v1/listings/L0/label", json={"prdtypecode": leaf.code, "reviewer": "a"}, headers=AUTH)
    assert ok.status_code == 201, ok.text

    body = json.loads(tree.taxonomy_json())
    for entry in body["categories"]:
        if entry["code"] == retired.code:
            entry["retired"] = True
    with session_scope(postgres_url) as session:
        assert load_taxonomy(session, parse_json(json.dumps(body)), source="v2")["changes"]["retired"] == [
            retired.code
        ]
    refused = client.post(
        "/v1/listings/L1/label", json={"prdtypecode": retired.code, "reviewer": "a"}, headers=AUTH
    )
    assert refused.status_code == 409 and "is retired" in refused.json()["message"], refused.text
    job = client.post("/v1/jobs", json={"category": retired.code}, headers=AUTH)
    assert job.status_code == 409
    department = client.post("/v1/listings/L1/label", json={"prdtypecode": leaf.department, "reviewer": "a"},
                             headers=AUTH)  # fmt: skip
    assert department.status_code == 409 and "is a department" in department.json()["message"]
    assert len(client.get("/v1/categories").json()) == 999
