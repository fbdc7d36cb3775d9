"""Stand-ins for tests and laptops, never deployed: a translation server (translator) and the local
tritonserver launcher with its ONNX Runtime backend shim (tritonserver). ``python -m tools.standins
triton|translator`` serves either until Ctrl-C."""
