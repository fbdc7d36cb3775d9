"""The N-leaf hierarchical catalog (training.synth.hierarchy): a valid 3-level tree with long-tail
counts, siblings sharing words, files the taxonomy commands and training read."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from shared.taxonomy.files import read_taxonomy
from training.synth import generate_catalog
from training.synth.generator import TAXONOMY_NAME, Y_NAME
from training.synth.hierarchy import LEAF_BASE, make_tree


def test_a_thousand_leaves_under_forty_departments_in_three_levels() -> None:
    tree = make_tree(1000, 40, seed=0)
    taxonomy = tree.taxonomy()
    leaves = taxonomy.live_leaves()
    assert len(leaves) == 1000 and len(tree.departments) == 40 and len(tree.categories) == 200
    assert {taxonomy.level(code) for code in leaves} == {3}
    assert len({taxonomy.name(code) for code in leaves}) == 1000  # names tell leaves apart
    path = taxonomy.path(leaves[0]).split(" > ")
    assert len(path) == 3 and path[2] == tree.by_code[leaves[0]].name
    assert make_tree(1000, 40, seed=0) == tree and make_tree(1000, 40, seed=1) != tree


def test_counts_have_a_long_tail_in_fixed_bands() -> None:
    tree = make_tree(300, 12, seed=3)
    counts = Counter(tree.allocate(3 * tree.units(), seed=3))
    bands = Counter(leaf.band for leaf in tree.leaves)
    assert bands == {"head": 30, "torso": 90, "tail": 180}
    assert Counter(counts.values()) == {15: 30, 6: 90, 3: 180}
    assert all(counts[leaf.code] == {"head": 15, "torso": 6, "tail": 3}[leaf.band] for leaf in tree.leaves)


def test_siblings_share_category_words_and_borrow_each_others() -> None:
    tree = make_tree(100, 4, seed=0)
    leaf = tree.leaves[0]
    siblings = set(tree.siblings[leaf.code])
    assert siblings and all(tree.by_code[s].category == leaf.category for s in siblings)
    r = random.Random(0)
    words = Counter(w for _ in range(400) for w in tree.leaf_words(r, leaf.code, ambiguous=False))
    own, category = set(leaf.words), set(tree.categories[leaf.category][2])
    borrowed = {w for s in siblings for w in tree.by_code[s].words}
    assert sum(words[w] for w in own) > sum(words[w] for w in borrowed) > 0
    assert sum(words[w] for w in category) > 0
    ambiguous = {w for _ in range(100) for w in tree.leaf_words(r, leaf.code, ambiguous=True)}
    assert ambiguous <= category  # an ambiguous title names only the category
    noisy = Counter(tree.by_code[tree.neighbour(leaf.code, r)].category == leaf.category for _ in range(500))
    assert noisy[True] > noisy[False] > 0  # wrong labels mostly go to a sibling


def test_generated_catalog_carries_its_taxonomy_file(tmp_path: Path) -> None:
    tree = make_tree(1000, 40, seed=0)
    summary = generate_catalog(tmp_path, 30, seed=0, tree=tree)
    taxonomy = read_taxonomy(tmp_path / TAXONOMY_NAME)
    assert taxonomy.version == tree.taxonomy().version
    labels = pd.read_csv(tmp_path / Y_NAME, index_col=0)["prdtypecode"]
    assert len(labels) == 30 and all(taxonomy.is_leaf(int(c)) for c in labels)
    assert set(summary.class_counts) <= set(taxonomy.live_leaves())
    assert min(summary.class_counts) >= LEAF_BASE


@pytest.mark.parametrize(("leaves", "departments"), [(1, 1), (10, 0), (10, 11)])
def test_refuses_impossible_trees(leaves: int, departments: int) -> None:
    with pytest.raises(ValueError):
        make_tree(leaves, departments, seed=0)
