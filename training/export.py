"""Triton configuration of exported models (docs/architecture.md §4; layout in shared.ml.model_repo)."""

from __future__ import annotations

from pathlib import Path

import onnx

from shared.ml.model_repo import ImageModelSpec, TextModelSpec

_ONNX_TYPES = {
    onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.FLOAT: "TYPE_FP32",
    onnx.TensorProto.UINT8: "TYPE_UINT8",
}


def onnx_io(path: Path) -> tuple[list[tuple[str, str, list[int]]], list[tuple[str, str, list[int]]]]:
    """(inputs, outputs) of an ONNX file as (name, Triton type, dims without the batch axis)."""
    graph = onnx.load(str(path), load_external_data=False).graph

    def describe(values: object) -> list[tuple[str, str, list[int]]]:
        out = []
        for value in values:  # type: ignore[attr-defined]
            tensor = value.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim][1:]
            out.append((value.name, _ONNX_TYPES[tensor.elem_type], dims))
        return out

    initializers = {init.name for init in graph.initializer}
    return describe([v for v in graph.input if v.name not in initializers]), describe(graph.output)


def config_pbtxt(name: str, onnx_path: Path, max_batch_size: int, instance_kind: str = "KIND_GPU") -> str:
    """Triton config whose input/output dims are read from the exported ONNX file itself."""
    inputs, outputs = onnx_io(onnx_path)

    def block(items: list[tuple[str, str, list[int]]]) -> str:
        return ",\n".join(
            f'  {{\n    name: "{n}"\n    data_type: {t}\n    dims: [ {", ".join(map(str, dims))} ]\n  }}'
            for n, t, dims in items
        )

    return (
        f'name: "{name}"\n'
        'backend: "onnxruntime"\n'
        f"max_batch_size: {max_batch_size}\n"
        "version_policy: { all { } }\n"
        f"input [\n{block(inputs)}\n]\n"
        f"output [\n{block(outputs)}\n]\n"
        "dynamic_batching {\n  max_queue_delay_microseconds: 2000\n}\n"
        f"instance_group [\n  {{\n    count: 1\n    kind: {instance_kind}\n  }}\n]\n"
    )


def write_config(
    repository: Path, spec: TextModelSpec | ImageModelSpec, max_batch_size: int, instance_kind: str
) -> Path:
    onnx_path = repository / spec.name / str(spec.triton_version) / "model.onnx"
    path = repository / spec.name / "config.pbtxt"
    path.write_text(config_pbtxt(spec.name, onnx_path, max_batch_size, instance_kind), "utf-8")
    return path
