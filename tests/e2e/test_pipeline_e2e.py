"""The whole pipeline on real Redis and a real local tritonserver equals offline evaluation.

A tiny model trained **with translation on** (the stand-in translator through the Redis
translation cache, as the language worker translates); 200 unseen synthetic offers go through
the language (same translator), text-encoder, image-encoder and fusion workers with the
``triton`` backend; each of the 200 ``listings.classified`` codes *and probabilities* must equal
what ``catalog evaluate --predictions-csv`` computes offline for the same offer (no train/serve
skew: training, evaluation and serving all read the translated text).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import pandas as pd
import pytest

from services.fusion.worker import create_worker as fusion_worker
from services.image_encoder.worker import create_worker as image_worker
from services.language.worker import create_worker as language_worker
from services.text_encoder.worker import create_worker as text_worker
from shared.broker import EventPublisher, read_events
from shared.config import Settings
from shared.contract import ListingClassified, ListingSubmitted, Stream
from shared.ml.model_repo import read_manifest
from tests.conftest import REDIS_URL
from tests.integration.inference.helpers import ensure_triton_venv, free_port_triple
from tools.standins.translator import running_standin
from tools.standins.tritonserver.launcher import LocalTritonServer

pytestmark = [pytest.mark.slow, pytest.mark.triton]

CATALOG = [sys.executable, "-m", "services.cli.main"]
N_OFFERS = 200


def catalog(*args: str | Path | int, **env_extra: str) -> None:
    env = {**os.environ, "CATALOG_LOG_LEVEL": "WARNING", **env_extra}
    subprocess.run([*CATALOG, *map(str, args)], check=True, env=env, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def triton_venv() -> Path:
    return ensure_triton_venv()


@pytest.fixture(scope="session")
def offers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 unseen offers."""
    out = tmp_path_factory.mktemp("e2e") / "offers"
    catalog("synth", "--out", out, "--n", N_OFFERS, "--seed", 12, "--quiet")
    return out


def submissions(data: Path) -> list[ListingSubmitted]:
    frame = pd.read_csv(data / "X_train_update.csv", index_col=0, dtype=str, keep_default_na=False)
    images = data / "images" / "image_train"
    return [
        ListingSubmitted.new(
            row.productid,
            title=row.designation,
            description=row.description or None,
            image_uri=f"file://{images}/image_{row.imageid}_product_{row.productid}.jpg",
        )
        for row in frame.itertuples()
    ]


def offline_predictions(
    repo: Path, data: Path, out: Path, env: dict[str, str]
) -> dict[str, tuple[int, float]]:
    catalog(
        "evaluate",
        "--data",
        data,
        "--model-repository",
        repo,
        "--json",
        out / "eval.json",
        "--predictions-csv",
        out / "predictions.csv",
        "--all",
        **env,
    )
    with (out / "predictions.csv").open(encoding="utf-8") as handle:
        return {
            row["productid"]: (int(row["prdtypecode"]), float(row["probability"]))
            for row in csv.DictReader(handle)
        }


async def test_pipeline_matches_offline_evaluation(
    synthetic_catalog: Path,
    offers: Path,
    triton_venv: Path,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    data = offers
    repo = tmp_path / "repo"
    url = f"127.0.0.1:{free_port_triple()}"
    with running_standin() as server:
        env = {
            "CATALOG_REDIS_URL": REDIS_URL,
            "CATALOG_STREAM_PREFIX": redis_prefix,
            "CATALOG_TRANSLATOR": "google",
            "CATALOG_TRANSLATOR_URL": server.url,
        }
        await _run(synthetic_catalog, data, repo, url, env, triton_venv, redis_prefix, tmp_path, server)


async def _run(
    train_data: Path,
    data: Path,
    repo: Path,
    url: str,
    env: dict[str, str],
    triton_venv: Path,
    redis_prefix: str,
    tmp_path: Path,
    server: object,
) -> None:
    catalog(
        "train", "--data", train_data, "--out", repo, "--profile", "tiny", "--triton-kind", "KIND_CPU", **env
    )
    manifest = read_manifest(repo)
    preparation = manifest.training["text_preparation"]
    assert preparation["translated"] is True and preparation["translated"] + preparation["cached"] > 0
    settings = Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        model_repository=repo,
        inference_backend="triton",
        triton_url=url,
        translator="google",
        translator_url=server.url,  # type: ignore[attr-defined]
        image_roots=[data],
        batch_size=32,
        database_url=f"sqlite:///{tmp_path / 'catalog.db'}",  # the language worker's ledger
    )
    offers = submissions(data)
    assert len(offers) == N_OFFERS
    with (
        open(tmp_path / "triton.log", "wb") as log_file,
        LocalTritonServer(repo, url, triton_venv, timeout_s=180, log_file=log_file),
    ):
        async with AsyncExitStack() as stack:
            for factory in (language_worker, text_worker, image_worker, fusion_worker):
                await stack.enter_async_context(factory(settings).running())
            async with EventPublisher(settings) as publisher:
                await publisher.publish(Stream.SUBMITTED, offers)
            classified = await read_events(settings, Stream.CLASSIFIED, ListingClassified, N_OFFERS, 400)
    assert len(classified) == N_OFFERS
    assert len({c.submission_id for c in classified}) == N_OFFERS
    assert any(c.translation_status in {"translated", "cached"} for c in classified)
    served = {c.listing_id: (c.prdtypecode, c.confidence) for c in classified}
    offline = offline_predictions(repo, data, tmp_path, env)
    assert served.keys() == offline.keys()
    mismatches = {
        k: (served[k], offline[k])
        for k in served
        if served[k][0] != offline[k][0] or abs(served[k][1] - offline[k][1]) > 1e-4
    }
    assert not mismatches
    assert any(c.image_missing_reason for c in classified)  # synth has missing/corrupt photos
    assert all(c.modalities for c in classified)
