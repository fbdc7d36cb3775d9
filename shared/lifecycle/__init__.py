"""The model lifecycle, in one place (docs/architecture.md §10).

- ``state``: which revision is current, the shadow candidate and every change (``lifecycle.json``);
- ``promotion``: the promotion gate (held-out and corrected-listings weighted F1) and ``promote``;
- ``drift``: drift of live predictions against the training reference (PSI per signal);
- ``quality``: weighted F1 and accuracy with their confidence intervals (live quality, the gate).

The held-out re-scoring the gate uses when two revisions' splits differ is evaluation code and
lives in ``training/held_out.py``; ``shared`` imports no training code.
"""
