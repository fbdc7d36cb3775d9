"""Synthetic multilingual catalog in the challenge's file layout (tests, demo, benchmarks)."""

from training.synth.config import SynthConfig, SynthSummary
from training.synth.generator import generate_catalog

__all__ = ["SynthConfig", "SynthSummary", "generate_catalog"]
