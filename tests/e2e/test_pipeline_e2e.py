"""The whole pipeline on real Redis and a real local tritonserver equals offline evaluation.

The suite's tiny model (``tiny_model_repository``, trained once); 200 unseen synthetic offers go
through the language (translator none), text-encoder, image-encoder and fusion workers with
the ``triton`` backend; each of the 200 ``listings.classified`` codes must equal what
``catalog evaluate --predictions-csv`` predicts offline for the same offer.
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
from services.standins.tritonserver.launcher import LocalTritonServer
from services.text_encoder.worker import create_worker as text_worker
from shared.broker import EventPublisher, read_events
from shared.config import Settings
from shared.contract import ListingClassified, ListingSubmitted, Stream
from tests.conftest import REDIS_URL
from tests.integration.inference.helpers import ensure_triton_venv, free_port_triple

pytestmark = [pytest.mark.slow, pytest.mark.triton]

CATALOG = [sys.executable, "-m", "services.cli.main"]
N_OFFERS = 200


def catalog(*args: str | Path | int) -> None:
    env = {**os.environ, "CATALOG_LOG_LEVEL": "WARNING"}
    subprocess.run([*CATALOG, *map(str, args)], check=True, env=env, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def triton_venv() -> Path:
    return ensure_triton_venv()


@pytest.fixture(scope="session")
def trained(tiny_model_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the suite's tiny model repository, 200 unseen offers)."""
    offers = tmp_path_factory.mktemp("e2e") / "offers"
    catalog("synth", "--out", offers, "--n", N_OFFERS, "--seed", 12, "--quiet")
    return tiny_model_repository, offers


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


def offline_codes(repo: Path, data: Path, out: Path) -> dict[str, int]:
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
    )
    with (out / "predictions.csv").open(encoding="utf-8") as handle:
        return {row["productid"]: int(row["prdtypecode"]) for row in csv.DictReader(handle)}


async def test_pipeline_matches_offline_evaluation(
    trained: tuple[Path, Path],
    triton_venv: Path,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    repo, data = trained
    url = f"127.0.0.1:{free_port_triple()}"
    settings = Settings(
        redis_url=REDIS_URL,
        stream_prefix=redis_prefix,
        model_repository=repo,
        inference_backend="triton",
        triton_url=url,
        translator="none",
        image_roots=[data],
        batch_size=32,
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
    served = {c.listing_id: c.prdtypecode for c in classified}
    offline = offline_codes(repo, data, tmp_path)
    assert served.keys() == offline.keys()
    mismatches = {k: (served[k], offline[k]) for k in served if served[k] != offline[k]}
    assert not mismatches
    assert any(c.image_missing_reason for c in classified)  # synth has missing/corrupt photos
    assert all(c.modalities for c in classified)
