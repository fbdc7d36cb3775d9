"""Inference: backends (local ONNX Runtime, Triton), encoders, the fusion join, online classify."""
