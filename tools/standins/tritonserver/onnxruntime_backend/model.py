"""A Python-based Triton backend named ``onnxruntime`` (local stand-in for the native one).

The ``nvidia-pytriton`` wheel ships tritonserver with the Python backend only. Placed as
``<backend-dir>/onnxruntime/model.py``, this file serves every model whose config says
``backend: "onnxruntime"`` by running ``<model>/<version>/model.onnx`` with ONNX Runtime, so the
model repository loads unchanged here and in NVIDIA's container (docs/architecture.md §5).
"""

from __future__ import annotations

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils  # type: ignore[import-not-found]

_ONNX_TO_TRITON = {
    "tensor(float)": "TYPE_FP32",
    "tensor(double)": "TYPE_FP64",
    "tensor(int64)": "TYPE_INT64",
    "tensor(int32)": "TYPE_INT32",
    "tensor(uint8)": "TYPE_UINT8",
    "tensor(int8)": "TYPE_INT8",
    "tensor(bool)": "TYPE_BOOL",
    "tensor(float16)": "TYPE_FP16",
}


def _model_file(args: dict) -> str:
    config = json.loads(args["model_config"])
    name = config.get("default_model_filename") or "model.onnx"
    return os.path.join(args["model_repository"], args["model_version"], name)


def _session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    threads = int(os.environ.get("CATALOG_TRITON_ORT_THREADS", "0"))
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class TritonPythonModel:
    """Runs one ONNX model version; batches arrive already concatenated by Triton's batcher."""

    @staticmethod
    def auto_complete_config(auto_complete_model_config):  # type: ignore[no-untyped-def]
        """Fill inputs/outputs from the ONNX graph when config.pbtxt leaves them out."""
        config = auto_complete_model_config.as_dict()
        if config.get("input") and config.get("output"):
            return auto_complete_model_config
        # The version to inspect is not given here: use the newest directory with an ONNX file.
        repo = os.environ.get("CATALOG_TRITON_REPOSITORY", "")
        folder = os.path.join(repo, config["name"])
        versions = (
            sorted((int(v) for v in os.listdir(folder) if v.isdigit()), reverse=True)
            if os.path.isdir(folder)
            else []
        )
        if not versions:
            return auto_complete_model_config
        session = _session(os.path.join(folder, str(versions[0]), "model.onnx"))
        batched = int(config.get("max_batch_size", 0)) > 0
        for kind, tensors, add in (
            ("input", session.get_inputs(), auto_complete_model_config.add_input),
            ("output", session.get_outputs(), auto_complete_model_config.add_output),
        ):
            if config.get(kind):
                continue
            for tensor in tensors:
                dims = [d if isinstance(d, int) else -1 for d in tensor.shape]
                add(
                    {
                        "name": tensor.name,
                        "data_type": _ONNX_TO_TRITON[tensor.type],
                        "dims": dims[1:] if batched else dims,
                    }
                )
        return auto_complete_model_config

    def initialize(self, args: dict) -> None:
        self.session = _session(_model_file(args))
        config = json.loads(args["model_config"])
        self.outputs = [o["name"] for o in config.get("output", [])] or [
            o.name for o in self.session.get_outputs()
        ]
        self.inputs = [i.name for i in self.session.get_inputs()]

    def execute(self, requests):  # type: ignore[no-untyped-def]
        """One ONNX Runtime call for all requests Triton handed us together."""
        arrays = [
            {name: pb_utils.get_input_tensor_by_name(r, name).as_numpy() for name in self.inputs}
            for r in requests
        ]
        sizes = [len(next(iter(a.values()))) for a in arrays]
        if len(requests) == 1:
            feed = arrays[0]
        else:
            feed = {name: _concat([a[name] for a in arrays]) for name in self.inputs}
        results = self.session.run(self.outputs, feed)
        responses = []
        start = 0
        for size in sizes:
            tensors = [
                pb_utils.Tensor(name, np.ascontiguousarray(value[start : start + size]))
                for name, value in zip(self.outputs, results, strict=True)
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += size
        return responses

    def finalize(self) -> None:
        self.session = None


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate along the batch axis, right-padding ragged sequence axes with zeros."""
    if all(p.shape[1:] == parts[0].shape[1:] for p in parts):
        return np.concatenate(parts, axis=0)
    shape = [max(p.shape[i] for p in parts) for i in range(1, parts[0].ndim)]
    padded = []
    for p in parts:
        pad = [(0, 0)] + [(0, s - p.shape[i + 1]) for i, s in enumerate(shape)]
        padded.append(np.pad(p, pad))
    return np.concatenate(padded, axis=0)
