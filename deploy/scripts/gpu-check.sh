#!/usr/bin/env bash
# GPU check: trains the production profile's architectures (random-init CamemBERT-base and
# FlauBERT-base shapes, ConvNeXt-base, EfficientNetV2-M, MaxViT-T) on a 5,000-offer synthetic
# sample within a few minutes; prints offers/s per phase, GPU memory peak and weighted F1 as
# JSON, also written to $OUT/gpu-check.json when OUT is set. See services/bench/gpu_check.py.
#
# Needs only: python3 with torch, timm, transformers, onnx, onnxruntime, numpy, pandas, pillow,
# scikit-learn, and pydantic, pydantic-settings, lightgbm (from wheels in .whl/ when present).
# No network, no pretrained weights. Extra arguments go to the check, e.g. --scale tiny
# (the CPU dry run of the test suite), --n 5000, --epochs 2, --budget-s 300, --device cuda.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
if [ -d .whl ] && ! "$PY" -c "import pydantic_settings, lightgbm" 2>/dev/null; then
  "$PY" -m pip install --quiet --no-index --find-links .whl pydantic pydantic-settings lightgbm
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec timeout "${GPU_CHECK_TIMEOUT_S:-420}" "$PY" -m services.bench.gpu_check "$@"
