"""The fault-injection suite (``python -m tools.chaos --n N``, ``make chaos``; docs/reliability.md):
the processes (cluster), the faults and the run (suite), the checks on what SQL and Redis hold
at the end (checks)."""
