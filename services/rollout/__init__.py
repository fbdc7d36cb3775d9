"""The model-rollout controller (``catalog rollout --watch``): keeps Triton's loaded versions in
line with the model repository's lifecycle, and writes the heartbeat its probes read."""
