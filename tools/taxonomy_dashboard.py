"""Fill a database for the 1,000-leaf dashboard screenshot (docs/taxonomy.md; not shipped).

    python -m tools.taxonomy_dashboard --data C1000 --database-url URL [--predictions CSV]

Loads ``DATA/taxonomy.json`` as the current tree, stores the catalog's offers as listings and
one prediction each through the writer's storage function (services.writer.store): from
``--predictions`` (`catalog evaluate --predictions-csv` of a model trained on the catalog) when
given, else the catalog's own labels with a sibling as runner-up (then say so with the figure).
"""

from __future__ import annotations

import argparse
import random
from datetime import timedelta
from pathlib import Path

import pandas as pd

from services.bench.seed import prediction_event
from services.writer.store import write_predictions
from shared.contract import CategoryScore, ListingSubmitted, Origin, utcnow
from shared.db.listings import upsert_listings
from shared.db.session import session_scope, upgrade
from shared.taxonomy.files import read_taxonomy
from shared.taxonomy.store import load_taxonomy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--predictions", type=Path)
    parser.add_argument("--review-share", type=float, default=0.3)
    args = parser.parse_args()
    taxonomy = read_taxonomy(args.data / "taxonomy.json")
    upgrade(args.database_url)
    with session_scope(args.database_url) as session:
        loaded = load_taxonomy(session, taxonomy, source=str(args.data / "taxonomy.json"), allow_drop=True)
        print(f"taxonomy version {loaded['version']} ({loaded['hash']}), changed: {loaded['changed']}")
    x = pd.read_csv(args.data / "X_train_update.csv", index_col=0)
    if args.predictions:
        predicted = pd.read_csv(args.predictions)
        codes = [int(c) for c in predicted["predicted"]]
        confidence = [float(p) for p in predicted["confidence"]]
    else:
        y = pd.read_csv(args.data / "Y_train_CVw08PX.csv", index_col=0)["prdtypecode"]
        codes = [int(c) for c in y]
        confidence = [0.0] * len(codes)
    r = random.Random(0)
    children = taxonomy.children
    now = utcnow()
    events = []
    for i, code in enumerate(codes):
        conf = confidence[i] or r.uniform(0.35, 0.99)
        parent = taxonomy.nodes[code].parent
        siblings = [c for c in children.get(parent, []) if c != code] if parent is not None else []
        others = r.sample(siblings, k=min(2, len(siblings)))
        rest = (1.0 - conf) / max(1, len(others))
        event = prediction_event(
            f"S{i}",
            code,
            conf,
            model_version="r1-synth1000",
            latency_s=r.uniform(0.5, 2.0),
            submitted_at=now - timedelta(minutes=r.uniform(0, 600)),
            origin=Origin(kind="ingest", job_id=None),
            decision="review" if r.random() < args.review_share else "auto",
        )
        top_k = [CategoryScore(prdtypecode=code, label=taxonomy.name(code), probability=conf)]
        top_k += [CategoryScore(prdtypecode=c, label=taxonomy.name(c), probability=rest) for c in others]
        events.append(event.model_copy(update={"label": taxonomy.name(code), "top_k": top_k}))
    titles = [str(t)[:250] for t in x["designation"]]
    with session_scope(args.database_url) as session:
        upsert_listings(session, [ListingSubmitted.new(f"S{i}", title=titles[i]) for i in range(len(codes))])
    for start in range(0, len(events), 1000):
        with session_scope(args.database_url) as session:
            write_predictions(session, events[start : start + 1000])
    print(f"{len(events)} predictions of {len(set(codes))} leaves written")


if __name__ == "__main__":
    main()
