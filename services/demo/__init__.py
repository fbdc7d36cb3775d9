"""``catalog demo``: the whole job end to end on embedded defaults (run), its tables (report) and
its models (training: the fast first one, the background run of the real one)."""
