"""The ``catalog`` commands, one module per area; each defines ``register(app)`` (main.py calls
them). The benchmarks register theirs from services/bench/commands.py."""
