"""Lay out the backend directory of the local tritonserver inside this venv.

``<venv>/triton/backends/python``: the wheel's Python backend plus the stub for this interpreter
(what pytriton does at start); ``<venv>/triton/backends/onnxruntime/model.py``: our Python-based
``onnxruntime`` backend, so configs saying ``backend: "onnxruntime"`` load unchanged.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytriton  # type: ignore[import-not-found]

HERE = Path(__file__).resolve().parent
# The ONNX Runtime shim is a stand-in for laptops and tests (tools/standins), never deployed.
SHIM = HERE.parents[1] / "tools" / "standins" / "tritonserver" / "onnxruntime_backend" / "model.py"
dist = Path(pytriton.__file__).parent / "tritonserver"
target = Path(sys.prefix) / "triton" / "backends"
if target.exists():
    shutil.rmtree(target)
shutil.copytree(dist / "backends" / "python", target / "python", ignore=shutil.ignore_patterns("__pycache__"))
stub = dist / "python_backend_stubs" / f"{sys.version_info[0]}.{sys.version_info[1]}"
shutil.copy2(stub / "triton_python_backend_stub", target / "python" / "triton_python_backend_stub")
(target / "onnxruntime").mkdir()
shutil.copy2(SHIM, target / "onnxruntime" / "model.py")
print(f"backends ready under {target}")
