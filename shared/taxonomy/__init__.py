"""Bring your own taxonomy: the category tree, its files, its versions in SQL, and what a model
revision trained on an older one can no longer do (docs/taxonomy.md)."""

from shared.taxonomy.files import find_taxonomy_file, read_taxonomy, reference_taxonomy
from shared.taxonomy.model import UNKNOWN_VERSION, Node, Taxonomy, TaxonomyError

__all__ = [
    "UNKNOWN_VERSION",
    "Node",
    "Taxonomy",
    "TaxonomyError",
    "find_taxonomy_file",
    "read_taxonomy",
    "reference_taxonomy",
]
