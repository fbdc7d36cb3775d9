"""Taxonomy files and rules: what a load refuses, JSON and CSV agree, the reference tree, the
model diff and the version a training run records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.taxonomy.diff import model_diff, training_taxonomy
from shared.taxonomy.files import parse_csv, parse_json, read_taxonomy, reference_taxonomy, to_json
from shared.taxonomy.model import UNKNOWN_VERSION, TaxonomyError

CSV = """code,name,parent,retired,merged_into,name_en
1,Maison,,,,Home
2,Cuisine,1,,,Kitchen
3,Casseroles,2,,,Pans
4,Poêles,2,,,
5,Jardin,1,,,Garden
6,Vieux,5,true,,
7,Doublon,2,,3,
"""


def _json(categories: list[dict[str, object]], **extra: object) -> str:
    return json.dumps({"categories": categories, **extra})


def test_csv_and_json_are_the_same_tree_with_paths_levels_and_statuses() -> None:
    from_csv = parse_csv(CSV)
    from_json = parse_json(to_json(from_csv))
    assert from_json.version == from_csv.version and len(from_csv.version) == 12
    t = from_csv
    assert t.path(3) == "Maison > Cuisine > Casseroles" and t.level(3) == 3
    assert t.path(3, "en") == "Home > Kitchen > Pans" and t.name(4, "en") == "Poêles"  # no translation
    assert t.live_leaves() == [3, 4]
    assert [t.status(c) for c in (1, 3, 6, 7, 99)] == ["department", "live", "retired", "merged", "unknown"]
    assert t.resolve(7) == 3
    assert "  [merged into 3]" in "\n".join(t.outline(tree=True))


@pytest.mark.parametrize(
    ("categories", "extra", "problem"),
    [
        ([{"code": 1, "name": "a"}, {"code": 1, "name": "b"}], {}, "code 1 is listed twice"),
        ([{"code": 1, "name": "a", "parent": 9}], {}, "parent 9 is not in the taxonomy"),
        (
            [{"code": 1, "name": "a", "parent": 2}, {"code": 2, "name": "b", "parent": 1}],
            {},
            "its parents form a cycle",
        ),
        ([{"code": 1, "name": "a"}], {"merges": {"5": 9}}, "merge target 9 is unknown"),
        (
            [{"code": 1, "name": "a", "retired": True}, {"code": 2, "name": "b"}],
            {"merges": {"2": 1}},
            "merged into 1, which is retired",
        ),
        (
            [{"code": 1, "name": "d"}, {"code": 2, "name": "l", "parent": 1}, {"code": 3, "name": "x"}],
            {"merges": {"3": 1}},
            "merged into 1, which is not a leaf",
        ),
        (
            [{"code": 1, "name": "a"}, {"code": 2, "name": "b"}],
            {"merges": {"1": 2, "2": 1}},
            "its merges form a cycle",
        ),
        (
            [{"code": 1, "name": "d", "retired": True}, {"code": 2, "name": "l", "parent": 1}],
            {},
            "code 2 is live under retired or merged 1",
        ),
        ([{"code": "x", "name": "a"}], {}, "'x' is not an integer code"),
        ([{"code": 1, "name": "a", "retired": "maybe"}], {}, "'maybe' is not true/false"),
    ],
)
def test_a_load_refuses_what_is_not_a_tree(
    categories: list[dict[str, object]], extra: dict[str, object], problem: str
) -> None:
    with pytest.raises(TaxonomyError) as refused:
        parse_json(_json(categories, **extra))
    assert any(problem in p for p in refused.value.problems), refused.value.problems


def test_merges_may_name_old_codes_the_file_no_longer_lists(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(_json([{"code": 3, "name": "c"}], merges={"8": 3}), "utf-8")
    t = read_taxonomy(path)
    assert t.status(8) == "merged" and t.resolve(8) == 3 and t.nodes[8].name is None
    with pytest.raises(TaxonomyError, match=r"ends with \.json or \.csv"):
        read_taxonomy(tmp_path / "t.txt")


def test_the_reference_tree_has_the_27_codes_as_leaves_under_ten_departments() -> None:
    t = reference_taxonomy()
    assert len(t.live_leaves()) == 27 and 2583 in t.live_leaves()
    departments = [c for c in t.nodes if not t.is_leaf(c)]
    assert sorted(departments) == list(range(90001, 90011))
    assert t.path(2583) == "Jardin & piscine > Equipement piscine & spa"
    assert all(t.level(c) == 2 for c in t.live_leaves())


def test_the_model_diff_names_what_a_revision_lost_and_what_it_cannot_predict() -> None:
    t = parse_csv(CSV)
    diff = model_diff(t, [3, 6, 7, 42], "abc")
    assert diff["no_longer_exist"] == {
        "retired": [6],
        "merged": [{"code": 7, "into": 3}],
        "unknown": [42],
        "department": [],
    }
    assert diff["cannot_predict"] == [4] and diff["stale"]
    same = model_diff(t, [3], t.version)  # trained on this very version: a subset is not stale
    assert not same["stale"] and same["cannot_predict"] == [4]
    assert not model_diff(t, [3, 4], UNKNOWN_VERSION)["stale"]  # an old manifest that fits


def test_training_records_the_taxonomy_beside_the_data_or_the_reference_when_it_fits(tmp_path: Path) -> None:
    assert training_taxonomy([10, 40], tmp_path) == (
        reference_taxonomy().version,
        {10: "Livres", 40: "Jeux Vidéo"},
    )
    assert training_taxonomy([9000, 9001], tmp_path) == (UNKNOWN_VERSION, {})  # not the reference
    (tmp_path / "taxonomy.csv").write_text("code,name\n9000,Casseroles\n9001,Poêles\n", "utf-8")
    version, names = training_taxonomy([9000, 9001], tmp_path)
    assert version == parse_csv((tmp_path / "taxonomy.csv").read_text("utf-8")).version
    assert names == {9000: "Casseroles", 9001: "Poêles"}
