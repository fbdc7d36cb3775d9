"""``catalog bench project``: the full catalog on one GPU box, from measured costs only.

Inputs, both JSON written by other benches (nothing is typed in by hand):

- a ``catalog bench pipeline`` run: ``plumbing_ms_per_offer`` per stage (what the queue adds:
  JSON, pydantic, Redis, SQL, logging; measured here, per offer, on this machine's cores) and
  ``limit_cpu_ms_per_offer`` for the two models that stay on the CPU on a GPU box (the
  language detector and the fusion meta-model);
- a GPU bench (``deploy/scripts/gpu-bench.sh``): each model's bare rate on the GPU, the box's
  JPEG decode rate (draft mode, all its decode processes) and its tokenizer rate.

Per offer the box spends on its CPU: every stage's plumbing, the two CPU models, one photo
decode and one tokenization. Decode and tokenizer rates were measured with the whole box
busy, so each costs ``cores / rate`` of CPU per item (an upper bound: the tokenizer may not
have used every core). The GPU runs the image and the text model in turn: ``1 / image_rate +
1 / text_rate`` seconds per offer. Stages overlap in a pipeline, so the catalog takes the
longer of the CPU's and the GPU's time (``overlapped_s``); ``serial_s`` (their sum) is the
bound if nothing overlapped. ``cores_to_feed_gpu``: cores whose CPU time per offer keeps up
with the GPU's rate.
"""

from __future__ import annotations

from typing import Any

FULL_CATALOG = 84_916
"""Offers in the challenge's full catalog (train + test)."""
CPU_MODELS = ("language", "fusion")
"""Stages whose model stays on the CPU on a GPU box (fastText detection, LightGBM fusion)."""


def _rate(rows: list[dict[str, Any]], model: str) -> dict[str, Any]:
    for row in rows:
        if row.get("model") == model:
            return row
    raise LookupError(f"model {model!r} not in the GPU bench (has: {[r.get('model') for r in rows]})")


def cpu_ms_per_offer(pipeline: dict[str, Any], gpu: dict[str, Any], text_model: str) -> dict[str, float]:
    """CPU ms per offer on the GPU box, by cost: each stage's plumbing, the CPU models, decode
    and tokenization (the two last from the box's own measured rates)."""
    plumbing = {k: float(v) for k, v in pipeline["plumbing_ms_per_offer"].items() if k != "total" and v}
    limit = pipeline["limit_cpu_ms_per_offer"]
    cores = int(gpu["decode_workers"])
    costs = {f"plumbing:{stage}": ms for stage, ms in plumbing.items()}
    costs.update({f"model:{stage}": float(limit[stage]) for stage in CPU_MODELS})
    costs["decode_photo"] = cores * 1000.0 / float(gpu["decode"]["draft_per_s"])
    costs["tokenize_text"] = (
        int(gpu["cpu_count"]) * 1000.0 / float(_rate(gpu["texts"], text_model)["tokenize_per_s"])
    )
    return costs


def project(
    pipeline: dict[str, Any],
    gpu: dict[str, Any],
    image_model: str,
    text_model: str,
    offers: int = FULL_CATALOG,
    cores: int | None = None,
) -> dict[str, Any]:
    """The projection for one (image model, text model) pair on a box of ``cores`` (the GPU
    bench's box by default)."""
    box_cores = cores or int(gpu["cpu_count"])
    costs = cpu_ms_per_offer(pipeline, gpu, text_model)
    cpu_ms = sum(costs.values())
    image_rate = float(_rate(gpu["images"], image_model)["bare_per_s"])
    text_rate = float(_rate(gpu["texts"], text_model)["bare_per_s"])
    gpu_s_per_offer = 1 / image_rate + 1 / text_rate
    cpu_s = offers * cpu_ms / 1000 / box_cores
    gpu_s = offers * gpu_s_per_offer
    return {
        "image_model": image_model,
        "text_model": text_model,
        "offers": offers,
        "cores": box_cores,
        "image_per_s": image_rate,
        "text_per_s": text_rate,
        "cpu_ms_per_offer": {k: round(v, 4) for k, v in costs.items()},
        "cpu_ms_per_offer_total": round(cpu_ms, 4),
        "plumbing_ms_per_offer": round(sum(v for k, v in costs.items() if k.startswith("plumbing:")), 4),
        "cpu_s": round(cpu_s, 2),
        "gpu_s": round(gpu_s, 2),
        "overlapped_s": round(max(cpu_s, gpu_s), 2),
        "serial_s": round(cpu_s + gpu_s, 2),
        "bound": "cpu" if cpu_s >= gpu_s else "gpu",
        "offers_per_s": round(offers / max(cpu_s, gpu_s), 1),
        "cores_to_feed_gpu": round(cpu_ms / 1000 / gpu_s_per_offer, 1),
    }


def projections(
    pipeline: dict[str, Any],
    gpu: dict[str, Any],
    text_model: str = "minilm",
    offers: int = FULL_CATALOG,
    cores: int | None = None,
) -> dict[str, Any]:
    """One projection per image model of the GPU bench, with ``text_model``."""
    rows = [project(pipeline, gpu, row["model"], text_model, offers, cores) for row in gpu["images"]]
    return {
        "pipeline": {
            "listings": pipeline.get("listings"),
            "model_repository": pipeline.get("model_repository"),
            "plumbing_ms_per_offer": pipeline["plumbing_ms_per_offer"],
            "limit_cpu_ms_per_offer": pipeline["limit_cpu_ms_per_offer"],
            "load_average": pipeline.get("machine", {}).get("load_average"),
        },
        "gpu": {"device": gpu.get("device_name"), "cpu_count": gpu["cpu_count"]},
        "projections": rows,
    }


def markdown(result: dict[str, Any]) -> str:
    """The table for docs/benchmarks/pipeline.md."""
    lines = [
        "| image model | text model | CPU ms/offer (plumbing) | CPU-bound s | GPU-bound s | "
        "catalog s (overlapped / serial) | offers/s | cores to feed the GPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in result["projections"]:
        lines.append(
            f"| {p['image_model']} ({p['image_per_s']:,.0f}/s) "
            f"| {p['text_model']} ({p['text_per_s']:,.0f}/s) "
            f"| {p['cpu_ms_per_offer_total']:.2f} ({p['plumbing_ms_per_offer']:.2f}) | {p['cpu_s']} "
            f"| {p['gpu_s']} | **{p['overlapped_s']}** / {p['serial_s']} | {p['offers_per_s']:,.0f} "
            f"| {p['cores_to_feed_gpu']} |"
        )
    return "\n".join(lines)
