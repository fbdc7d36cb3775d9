#!/usr/bin/env bash
# Create the local Triton environment (.venv-triton): the tritonserver binary shipped in
# nvidia-pytriton 0.7.0 (Triton 2.51.0, Python backend only) plus ONNX Runtime for our Python-based
# `onnxruntime` backend. Kept apart from .venv because pytriton pins numpy<2 (docs/architecture.md §5).
# Usage: deploy/triton/make_venv.sh [VENV_DIR]   (idempotent; re-run after editing this file)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${1:-$ROOT/.venv-triton}"
PYTHON="${PYTHON:-python3.11}"
STAMP="$VENV/.installed"
if [[ -f "$STAMP" && "$STAMP" -nt "$HERE/requirements.txt" && "$STAMP" -nt "$0" ]]; then
  # Packages are current; refresh the backend files (cheap) in case model.py changed.
  "$VENV/bin/python" "$HERE/install_backend.py" >/dev/null
  echo "Triton environment ready: $VENV"; exit 0
fi
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q -r "$HERE/requirements.txt"
"$VENV/bin/python" "$HERE/install_backend.py"
touch "$STAMP"
echo "Triton environment ready: $VENV"
