"""Training-step rate of the production text transformer per batch size (a GPU probe).

Why: the GPU check trained CamemBERT-base-shaped models at 224 offers/s (batch 32, 256 tokens,
validation and a cold start inside a 34 s run) where about 990/s was expected on an H200. This
isolates the step itself: random-init CamemBERT-base shape, full 256-token sequences, AdamW,
bf16 autocast, for several batch sizes, with and without a host sync (``loss.item()``) per step
as ``training.loop.fit`` does. Needs only torch and transformers; no weights, no network.

    python -m services.bench.gpu_probe --json OUT.json            # on the GPU box
    python -m services.bench.gpu_probe --tiny --device cpu        # the dry run the tests use
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path
from typing import Any


def _model(tiny: bool, labels: int) -> Any:
    from transformers import CamembertConfig, CamembertForSequenceClassification

    if tiny:
        config = CamembertConfig(
            vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=80,
        )  # fmt: skip
    else:  # camembert-base's shape
        config = CamembertConfig(vocab_size=32005, max_position_embeddings=514)
    config.num_labels = labels
    return CamembertForSequenceClassification(config)


def rate(batch: int, seq: int, steps: int, sync_each_step: bool, tiny: bool, device: str) -> dict[str, Any]:
    """Offers/s of ``steps`` timed training steps (after 3 warm-up steps) at ``batch`` x ``seq``."""
    import torch

    torch.manual_seed(0)
    model = _model(tiny, 27).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-5)
    vocab = model.config.vocab_size
    ids = torch.randint(5, vocab, (batch, seq), device=device)
    mask = torch.ones_like(ids)
    labels = torch.randint(0, 27, (batch,), device=device)
    use_bf16 = device.startswith("cuda")

    def step() -> Any:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(input_ids=ids, attention_mask=mask).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss

    for _ in range(3):
        step()
    if use_bf16:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(steps):
        loss = step()
        if sync_each_step:
            loss.item()
    if use_bf16:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2**30 if use_bf16 else None
    return {
        "batch": batch,
        "seq": seq,
        "steps": steps,
        "sync_each_step": sync_each_step,
        "offers_per_s": round(batch * steps / seconds, 1),
        "gpu_peak_gib": None if peak is None else round(peak, 2),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="32,64,128", help="comma-separated batch sizes")
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="a tiny model (the CPU dry run)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    import torch

    runs = []
    for batch in args.batches.split(","):
        for sync in (True, False):
            runs.append(rate(int(batch), args.seq, args.steps, sync, args.tiny, args.device))
            gc.collect()  # the previous model's memory back before the next one
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()
    body = {
        "probe": "camembert-base-shaped training step" + (" (tiny)" if args.tiny else ""),
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device,
        "torch": torch.__version__,
        "runs": runs,
    }
    print(json.dumps(body))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(body, indent=2), "utf-8")
    return body


if __name__ == "__main__":
    main()
