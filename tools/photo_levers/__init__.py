"""Screening of image-training levers (``python -m tools.photo_levers``): one image model trained
on the non-test rows of a catalog's default split with profile overrides, scored on its held-out
rows. Development only: docs/benchmarks/training.md ("Photos: more learned per CPU minute")
records what it measured; the default profile keeps the winner."""
