"""Explanations of a classification by occlusion through the served models (issue 16).

Model-agnostic: the encoders and the fusion come in as callables (the composition root hands
over the very functions the workers run, on the configured backend), and every perturbed copy
of an offer is sent in batched inference requests. Imports ``shared`` only.
"""

from .explainer import ExplainOptions, ServedModels, explain_offer

__all__ = ["ExplainOptions", "ServedModels", "explain_offer"]
