#!/usr/bin/env bash
# The encoders' bulk path on one GPU against the bare models (services/bench/gpu.py).
#
# Needs only: Python 3.12, torch (CUDA), timm, transformers (tokenizers), numpy, pillow.
# No pydantic, Redis, SQL, Triton or network: it imports shared/ml/preprocess.py alone of ours.
# Run from the repository root:   deploy/scripts/gpu-bench.sh [--json OUT] [extra options]
# Defaults: batch 1,024, EfficientNet-Lite0 + ConvNeXt-base at 224 px, MiniLM-L6 at 128 tokens
# + CamemBERT-base at 256 tokens (random weights), 4,096 photos decoded by every CPU core.
# Quick check first:              deploy/scripts/gpu-bench.sh --tiny --device cpu
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m services.bench.gpu "$@"
