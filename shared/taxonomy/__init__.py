"""Bring your own taxonomy (docs/taxonomy.md): the category tree (``model``), its JSON/CSV files
and the reference tree (``files``), its versions in SQL (``store``), and what a model revision
trained on another version can no longer do (``diff``)."""
