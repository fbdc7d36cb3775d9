"""GPU check: the production profile's architectures trained on a synthetic sample, with
offers/s per phase, GPU memory peak and weighted F1, as JSON.

For a GPU machine that has only torch, timm, transformers, ONNX (+ Runtime), numpy, pandas,
pillow, scikit-learn and the carried wheels (pydantic*, lightgbm): no hub, no weights, no
rich/typer/Redis. The transformers are random-init CamemBERT-base and FlauBERT-base shapes
with a tokenizer built locally (training.random_bases); the timm backbones are the production
ones with ``pretrained=False``. F1 of random-init bases after a capped run says the loop learns,
not what the real weights reach; throughput and memory are those of the real shapes.

``--scale tiny`` runs the same code on small shapes on the CPU (the test suite's dry run).
    python -m services.bench.gpu_check [--n 5000] [--scale full|tiny] [--device auto] [--budget-s 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared.ml.model_repo import ImageModelSpec, TextModelSpec
from shared.ml.preprocess import TextTokenizer
from training import image_model, subword_model, text_model
from training.data import load_catalog
from training.device import memory_peak, resolve_device
from training.image_data import build_pixel_store
from training.oof import Inner
from training.profiles import PRODUCTION, PROFILES, Profile
from training.random_bases import write_random_base
from training.split import group_keys, make_split

FULL_IMAGES = ("convnext_base", "tf_efficientnetv2_m", "maxvit_tiny_tf_224")
TINY_IMAGES = ("test_convnext", "test_efficientnet", "test_vit")


def _f1(y: np.ndarray, logits: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return round(float(f1_score(y, logits.argmax(1), average="weighted", zero_division=0)), 4)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def check_profile(scale: str, epochs: int) -> Profile:
    """The production profile (or its tiny shape) with epochs capped for a few minutes' run."""
    if scale == "tiny":
        return replace(PROFILES["production-tiny"], text_epochs=epochs, image_epochs=epochs, loader_workers=1)
    return replace(PRODUCTION, text_epochs=epochs, image_epochs=epochs, text_max_length=128, oof_folds=2)


class Check:
    """Shared state of one check run: data, split, device, timings and the JSON result."""

    def __init__(self, work: Path, n: int, scale: str, device: str, epochs: int, budget_s: float) -> None:
        self.started = time.monotonic()
        self.work, self.scale, self.budget_s = work, scale, budget_s
        self.device = resolve_device(device)
        self.profile = check_profile(scale, epochs)
        self.result: dict[str, Any] = {
            "scale": scale,
            "device": str(self.device),
            "gpu": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else None,
            "torch": torch.__version__,
            "offers": n,
            "epochs_cap": epochs,
            "phases": {},
            "models": {},
        }
        mark = time.monotonic()
        data = work / "data"
        if not (data / "Y_train_CVw08PX.csv").is_file():
            from training.synth import generate_catalog

            generate_catalog(data, n, seed=7)
        self._phase("synth", n, mark)
        mark = time.monotonic()
        self.catalog = load_catalog(data, require_labels=True)
        codes = self.catalog.codes()
        index = {c: i for i, c in enumerate(codes)}
        self.y = np.array([index[c] for c in self.catalog.labels or []], dtype=np.int64)
        self.n_labels = len(codes)
        split = make_split(self.catalog, 42, 0.15, 2, "text")
        inner = Inner(list(self.y), group_keys(self.catalog, "text"), 0.1, 42)
        self.fit_rows, self.val_rows = inner.split(split.train)
        self.test_rows = split.test
        self._phase("load_split", len(self.catalog), mark)
        self.test_probs: list[np.ndarray] = []

    def _phase(self, name: str, offers: int, mark: float) -> None:
        seconds = time.monotonic() - mark
        self.result["phases"][name] = {
            "seconds": round(seconds, 2),
            "offers_per_s": round(offers / seconds, 1) if seconds > 0 else None,
        }

    def flush(self) -> None:
        """The result so far to $OUT/gpu-check.partial.json: something comes back if killed."""
        if os.environ.get("OUT"):
            Path(os.environ["OUT"]).mkdir(parents=True, exist_ok=True)
            partial = {**self.result, "elapsed_s": round(time.monotonic() - self.started, 1)}
            (Path(os.environ["OUT"]) / "gpu-check.partial.json").write_text(json.dumps(partial, indent=2))

    def over_budget(self, name: str) -> bool:
        if time.monotonic() - self.started < self.budget_s:
            return False
        self.result["models"][name] = {"skipped": "time budget spent"}
        return True

    def record(
        self,
        name: str,
        fit: Any,
        trained_rows: int,
        train_s: float,
        logits: np.ndarray,
        infer_s: float,
        peak: dict[str, float],
    ) -> None:
        self.test_probs.append(_softmax(logits))
        self.result["models"][name] = {
            **fit.as_dict(),
            "train_offers_per_s": round(trained_rows / train_s, 1),
            "infer_offers_per_s": round(len(self.test_rows) / infer_s, 1),
            "train_s": round(train_s, 1),
            "test_weighted_f1": _f1(self.y[self.test_rows], logits),
            **peak,
        }
        self.flush()

    def text(self, name: str, kind: str, export: bool) -> None:
        """One text model: (random base written) -> train on the device -> score the test rows."""
        if self.over_budget(name):
            return
        profile = self.profile
        tokenizer_dir = self.work / name / "tokenizer"
        if kind == "subword":
            spec = TextModelSpec(
                name=name,
                base="subword",
                triton_version=1,
                tokenizer_dir=".",
                max_length=profile.subword_max_features,
                subword=subword_model.subword_spec(profile),
            )
            model: torch.nn.Module = subword_model.build_subword_model(profile, self.n_labels).to(self.device)
            settings = subword_model.subword_training(profile)
        else:
            base = write_random_base(
                kind, self.catalog.texts, self.work / name / "base", self.scale == "tiny"
            )
            model = text_model.build_text_model(str(base), self.n_labels, tokenizer_dir)
            spec = TextModelSpec(
                name=name,
                base=kind,
                triton_version=1,
                tokenizer_dir="tokenizer",
                max_length=profile.text_max_length,
            )
            settings = text_model.transformer_training(profile)
        tokenizer = TextTokenizer(self.work / name, spec)
        encoded = text_model.EncodedTexts(tokenizer, self.catalog.texts)
        checkpoint = self.work / name / "full" / "checkpoint.pt"
        fit_labels, val_labels = self.y[self.fit_rows], self.y[self.val_rows]
        with memory_peak(self.device) as peak:
            mark = time.monotonic()
            if kind == "subword":  # its IDF, optimizer and calibration come with it
                fit = subword_model.fit_subword(
                    model, encoded, self.fit_rows, fit_labels, self.val_rows, val_labels, profile,  # type: ignore[arg-type]
                    checkpoint, name, self.device,
                )  # fmt: skip
            else:
                fit = text_model.train_text_model(
                    model, encoded, self.fit_rows, fit_labels, self.val_rows, val_labels, settings,
                    checkpoint, name, None, self.device,
                )  # fmt: skip
            train_s = time.monotonic() - mark
            mark = time.monotonic()
            logits = text_model.logits_of(model, encoded, self.test_rows)
            infer_s = time.monotonic() - mark
        steps = -(-len(self.fit_rows) // settings.batch_size)
        if settings.max_steps_per_epoch is not None:
            steps = min(steps, settings.max_steps_per_epoch)
        trained = min(len(self.fit_rows), steps * settings.batch_size) * len(fit.losses)
        self.record(name, fit, trained, train_s, logits, infer_s, peak)
        if export and kind != "subword":
            self._resume_and_export(name, model, kind, encoded, settings, checkpoint, logits, tokenizer_dir)

    def _resume_and_export(
        self,
        name: str,
        model: torch.nn.Module,
        kind: str,
        encoded: Any,
        settings: Any,
        checkpoint: Path,
        logits: np.ndarray,
        tokenizer_dir: Path,
    ) -> None:
        """A fresh model resumed from the finished checkpoint scores the same (resume works on
        this device); then the ONNX export of the trained model, checked with ONNX Runtime."""
        fresh = text_model.build_text_model(str(self.work / name / "base"), self.n_labels, tokenizer_dir)
        text_model.train_text_model(
            fresh,
            encoded,
            self.fit_rows,
            self.y[self.fit_rows],
            self.val_rows,
            self.y[self.val_rows],
            settings,
            checkpoint,
            name,
            None,
            self.device,
        )
        resumed = text_model.logits_of(fresh, encoded, self.test_rows)
        self.result["models"][name]["resume_max_abs_diff"] = round(float(np.abs(resumed - logits).max()), 4)
        del fresh
        mark = time.monotonic()
        spec = TextModelSpec(
            name=name,
            base=kind,
            triton_version=1,
            tokenizer_dir=f"{name}/1/tokenizer",
            max_length=self.profile.text_max_length,
        )
        path = text_model.export_text_model(model, tokenizer_dir, self.work / "repo" / name / "1", spec)
        from training.scoring import onnx_session

        sample = self.test_rows[:16]
        feeds = TextTokenizer(self.work / "repo", spec).encode([self.catalog.texts[i] for i in sample])
        exported = onnx_session(path, threads=4).run(["logits"], feeds)[0]  # type: ignore[attr-defined]
        reference = text_model.logits_of(model, encoded, sample)  # float32 on the CPU now
        self.result["models"][name]["onnx_max_abs_diff"] = round(float(np.abs(reference - exported).max()), 5)
        self.result["models"][name]["export_s"] = round(time.monotonic() - mark, 1)

    def images(self, archs: tuple[str, ...]) -> None:
        profile = self.profile
        mark = time.monotonic()
        spec = ImageModelSpec(
            name="pixels",
            base="-",
            triton_version=1,
            image_size=profile.image_size,
            mean=[0.5] * 3,
            std=[0.5] * 3,
        )
        store, valid = build_pixel_store(
            self.catalog.image_paths,
            spec,
            40_000_000,
            self.work / f"images_{profile.image_size}",
            profile.image_decode_workers,
        )
        self._phase("decode_images", len(store), mark)
        fit_rows, val_rows = self.fit_rows[valid[self.fit_rows]], self.val_rows[valid[self.val_rows]]
        for arch in archs:
            name = f"image_{arch}"
            if self.over_budget(name):
                continue
            torch.manual_seed(profile.seed)
            model, _, _ = image_model.build_image_model(f"{arch}=random", self.n_labels)
            with memory_peak(self.device) as peak:
                mark = time.monotonic()
                fit = image_model.train_image_model(
                    model,
                    store,
                    fit_rows,
                    self.y[fit_rows],
                    profile,
                    self.work / name / "checkpoint.pt",
                    name,
                    val_rows,
                    self.y[val_rows],
                    self.device,
                )
                train_s = time.monotonic() - mark
                mark = time.monotonic()
                logits = image_model.store_logits(model, store, self.test_rows)
                infer_s = time.monotonic() - mark
            steps = -(-len(fit_rows) // profile.image_batch_size)
            if profile.image_max_steps_per_epoch is not None:
                steps = min(steps, profile.image_max_steps_per_epoch)
            trained = min(len(fit_rows), steps * profile.image_batch_size) * len(fit.losses)
            self.record(name, fit, trained, train_s, logits, infer_s, peak)
            del model
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def finish(self) -> dict[str, Any]:
        if self.test_probs:
            mean = np.mean(self.test_probs, axis=0)
            self.result["mean_probability_test_weighted_f1"] = _f1(self.y[self.test_rows], mean)
        if self.device.type == "cuda":
            self.result["gpu_peak_gib"] = round(torch.cuda.max_memory_allocated(self.device) / 2**30, 2)
        self.result["total_s"] = round(time.monotonic() - self.started, 1)
        return self.result


def run_check(work: Path, n: int, scale: str, device: str, epochs: int, budget_s: float) -> dict[str, Any]:
    check = Check(work, n, scale, device, epochs, budget_s)
    check.text("text_camembert", "camembert-base", export=True)
    check.text("text_flaubert", "flaubert-base", export=False)
    check.text("text_subword", "subword", export=False)
    check.images(TINY_IMAGES if scale == "tiny" else FULL_IMAGES)
    return check.finish()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=5000, help="synthetic offers")
    parser.add_argument("--scale", choices=["full", "tiny"], default="full")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per model (cap)")
    parser.add_argument("--budget-s", type=float, default=300.0, help="skip models started after this")
    parser.add_argument("--work", type=Path, default=None, help="work dir (default: a temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        work = args.work or Path(tmp)
        result = run_check(work, args.n, args.scale, args.device, args.epochs, args.budget_s)
    body = json.dumps(result, indent=2)
    print(body)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"]).mkdir(parents=True, exist_ok=True)
        (Path(os.environ["OUT"]) / "gpu-check.json").write_text(body, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
