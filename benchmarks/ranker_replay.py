"""Quick internal replay to choose the ranker's defaults (not the full benchmark).

For each dataset and seed: draw one included and one excluded record at
random as the reviewer's first decisions, then screen in the order the
:class:`ldnscreen.rankers.ActiveLearner` proposes (one record at a time,
retraining as it would for a reviewer) until 95 % of the included records
are found. Reports WSS@95 (work saved over sampling at 95 % recall) and
the recall after screening 10 % of the records.

Usage::

    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/ranker_replay.py --cold-start --seeds 0,1,2,3,4
    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/ranker_replay.py --demo --seeds 0,1,2,3,4,5,6,7,8,9

    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/ranker_replay.py \
        --variants default,C=0.3,title_weight=0 --datasets cohen2006_nsaids,kitchenham_2010 --seeds 0,1,2

A variant is ``default`` or comma-free ``key=value`` settings joined by ``+``
(``C=0.3+ngram=1``). Keys: C, title_weight, ngram (max n), min_df,
stop_words, sublinear (0/1), balance (balanced/none), query, cw1 (weight
of inclusions in class_weight).
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldnscreen.corpora import shared_dir  # noqa: E402
from ldnscreen.features import TextFeatures  # noqa: E402
from ldnscreen.rankers import ActiveLearner, InclusionClassifier  # noqa: E402
from ldnscreen.records import Record  # noqa: E402

SCREENING = (shared_dir() or ROOT.parent / "shared") / "corpora" / "screening"  # ($LDNSCREEN_SHARED first)
DEFAULT_DATASETS = "cohen2006_nsaids,cohen2006_urinaryincontinence,cohen2006_triptans,cohen2006_adhd,kitchenham_2010"


def read_dataset(name: str) -> tuple[list[Record], np.ndarray]:
    csv.field_size_limit(10**8)
    records, y = [], []
    with open(SCREENING / f"{name}.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            keywords = tuple(k.strip() for k in (row.get("keywords") or "").split(";") if k.strip())
            records.append(Record(title=row.get("title") or "", abstract=row.get("abstract") or "", keywords=keywords, id=f"x{row['record_id']}"))
            y.append(int(float(row["label_included"] or 0)))
    return records, np.asarray(y)


def parse_variant(variant: str) -> dict:
    if variant == "default":
        return {}
    settings = {}
    for part in variant.split("+"):
        key, _, value = part.partition("=")
        settings[key] = value
    return settings


def make_learner(settings: dict, seed: int, prior=None) -> ActiveLearner:
    feature_args = {}
    if "title_weight" in settings:
        feature_args["title_weight"] = float(settings["title_weight"])
    if "ngram" in settings:
        feature_args["ngram_range"] = (1, int(settings["ngram"]))
    if "min_df" in settings:
        feature_args["min_df"] = int(settings["min_df"])
    if "stop_words" in settings:
        feature_args["stop_words"] = settings["stop_words"] or None
    if "sublinear" in settings:
        feature_args["sublinear_tf"] = bool(int(settings["sublinear"]))
    clf_args = {}
    if "C" in settings:
        clf_args["C"] = float(settings["C"])
    if settings.get("balance") == "none":
        clf_args["class_weight"] = None
    if "cw1" in settings:
        clf_args["class_weight"] = {0: 1.0, 1: float(settings["cw1"])}
    if "solver" in settings:
        clf_args["solver"] = settings["solver"]
    options = {}
    if "share" in settings:
        options["share"] = float(settings["share"])
    return ActiveLearner(
        features=TextFeatures(**feature_args),
        classifier=InclusionClassifier(**clf_args),
        query=settings.get("query", "max"),
        random_state=seed,
        query_options=options or None,
        prior=prior,
        retrain_every=int(settings["every"]) if "every" in settings else "auto",
        **({"prior_strength": float(settings["k"])} if "k" in settings else {}),
    )


def replay(records, y, settings: dict, seed: int, X=None, features=None) -> dict:
    n, n_relevant = len(y), int(y.sum())
    target = math.ceil(0.95 * n_relevant)
    learner = make_learner(settings, seed)
    if X is None:
        learner.fit_features(records)
    else:
        learner.set_matrix(X, features)
    rng = np.random.default_rng(seed + 1000)
    first = [int(rng.choice(np.flatnonzero(y == 1))), int(rng.choice(np.flatnonzero(y == 0)))]
    for i in first:
        learner.label(i, int(y[i]))
    found, screened = 0, 0  # priors not counted
    recall_at_10pct = None
    tenth = math.ceil(0.10 * n)
    relevant_left = n_relevant - 1
    target = math.ceil(0.95 * relevant_left)
    found_at_target = None
    started = time.perf_counter()
    while screened < n - 2:
        i = learner.next(1)[0]
        learner.label(i, int(y[i]))
        screened += 1
        found += int(y[i])
        if screened == tenth:
            recall_at_10pct = found / relevant_left
        if found >= target and found_at_target is None:
            found_at_target = screened
        if found_at_target is not None and screened >= tenth:
            break
    elapsed = time.perf_counter() - started
    n_pool = n - 2
    wss95 = (n_pool - found_at_target) / n_pool - 0.05
    return {"wss95": wss95, "recall10": recall_at_10pct if recall_at_10pct is not None else 1.0, "seconds": elapsed}


CRITERIA_DIR = ROOT / "corpora" / "criteria"


def cold_start(records, y, mode: str, seed: int, X, features, criteria, budget: int = 100, settings=None) -> dict:
    """Relevant records found in the first ``budget`` screened, from a cold start.

    Modes: ``criteria`` (criteria prior, no labelled records), ``random``
    (no prior, no labelled records: a seeded random order until the first
    inclusion and exclusion), ``random-priors`` (no criteria; one random
    included and one random excluded record labelled first and not counted,
    as in ASReview simulations) and ``criteria+priors``.
    """
    from ldnscreen.prior import CriteriaPrior

    learner = make_learner(settings or {}, seed)
    learner.set_matrix(X, features)
    if mode.startswith("criteria"):
        learner.set_prior_scores(CriteriaPrior(criteria).scores(records, X, features))
    relevant = int(y.sum())
    if mode.endswith("priors"):
        rng = np.random.default_rng(seed + 1000)
        for i in (int(rng.choice(np.flatnonzero(y == 1))), int(rng.choice(np.flatnonzero(y == 0)))):
            learner.label(i, int(y[i]))
        relevant -= 1
    found, first_hit = 0, None
    for step in range(1, budget + 1):
        i = learner.next(1)[0]
        learner.label(i, int(y[i]))
        found += int(y[i])
        if y[i] and first_hit is None:
            first_hit = step
    return {"recall": found / relevant, "found": found, "first": first_hit or budget + 1}


def main_cold_start(datasets: list[str], seeds: list[int], budget: int, settings=None, modes=None) -> None:
    modes = modes or ["random", "random-priors", "criteria", "criteria+priors"]
    print(f"first-{budget} recall (records to the first inclusion), mean over seeds {seeds}")
    print(f"{'dataset':32s} " + " ".join(f"{m:>22s}" for m in modes))
    from ldnscreen.criteria import Criteria

    for name in datasets:
        records, y = read_dataset(name)
        criteria = Criteria.load(CRITERIA_DIR / f"{name}.toml")
        learner = make_learner({}, 0)
        learner.fit_features(records)
        cells = []
        for mode in modes:
            runs = [cold_start(records, y, mode, seed, learner.X_, learner.features_, criteria, budget, settings) for seed in seeds]
            cells.append(f"{statistics.mean(r['recall'] for r in runs):.3f} ({statistics.mean(r['first'] for r in runs):5.1f})")
        print(f"{name:32s} " + " ".join(f"{c:>22s}" for c in cells), flush=True)


def main_demo(seeds: list[int]) -> None:
    """Criteria prior vs random start on the illustrative LDN demo records (one copy per study)."""
    from ldnscreen.criteria import Criteria
    from ldnscreen.io import read_file
    from ldnscreen.prior import CriteriaPrior

    demo = ROOT / "corpora" / "ldn_review" / "demo"
    with open(demo / "labels.csv", newline="", encoding="utf-8") as handle:
        labels = [row for row in csv.DictReader(handle) if not row["duplicate_of"]]
    by_source = {}
    for name in {row["file"] for row in labels}:
        for record in read_file(demo / name).records:
            by_source[(name, record.provenance[0].source_id)] = record
    records = [by_source[(row["file"], row["source_id"])] for row in labels]
    y = np.array([row["decision"] == "include" for row in labels], dtype=int)
    criteria = Criteria.load(ROOT / "corpora" / "ldn_review" / "criteria.toml")
    order = np.argsort(-CriteriaPrior(criteria).scores(records), kind="stable")
    print(f"{len(records)} studies, {y.sum()} included; prior top 20 holds {y[order[:20]].sum()} "
          f"(random: {20 * y.mean():.1f})")
    for use_criteria in (False, True):
        first20, to_all = [], []
        for seed in seeds:
            learner = ActiveLearner(prior=criteria if use_criteria else None, random_state=seed).fit_features(records)
            found = screened = 0
            while found < y.sum():
                i = learner.next(1)[0]
                learner.label(i, int(y[i]))
                screened += 1
                found += int(y[i])
                if screened == 20:
                    first20.append(found)
            to_all.append(screened)
        print(f"{'criteria prior' if use_criteria else 'random start':15s} found in first 20: {statistics.mean(first20):.1f}  "
              f"screened to find all: {statistics.mean(to_all):.1f}  (mean of seeds {seeds})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="default")
    parser.add_argument("--datasets", default=DEFAULT_DATASETS)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--cold-start", action="store_true", help="compare the criteria prior with random starts")
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--demo", action="store_true", help="criteria prior vs random start on the LDN demo records")
    parser.add_argument("--modes", default="", help="cold-start modes to run (default: all four)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    datasets = args.datasets.split(",")
    missing = [name for name in datasets if not (SCREENING / f"{name}.csv").is_file()]
    if missing and not args.demo:
        parser.exit(2, f"ranker_replay.py: no {', '.join(name + '.csv' for name in missing)} in {SCREENING} "
                       "(the shared corpora: put ../shared beside the repository or set LDNSCREEN_SHARED)\n")
    variants = args.variants.split(",")
    if args.demo:
        main_demo(seeds)
        return
    if args.cold_start:
        if args.datasets == DEFAULT_DATASETS:
            datasets = sorted(p.stem for p in CRITERIA_DIR.glob("*.toml"))
        for variant in variants:
            print(f"variant {variant}")
            main_cold_start(datasets, seeds, args.budget, parse_variant(variant), args.modes.split(",") if args.modes else None)
        return
    data = {name: read_dataset(name) for name in datasets}
    print(f"{'variant':28s} " + " ".join(f"{d[:18]:>18s}" for d in datasets) + f" {'mean WSS@95':>12s} {'mean R@10%':>10s}")
    for variant in variants:
        settings = parse_variant(variant)
        wss_means, r10_means, cells = [], [], []
        for name in datasets:
            records, y = data[name]
            # features depend only on the feature settings and the records: fit once per dataset
            learner = make_learner(settings, 0)
            learner.fit_features(records)
            runs = [replay(records, y, settings, seed, learner.X_, learner.features_) for seed in seeds]
            wss = statistics.mean(r["wss95"] for r in runs)
            r10 = statistics.mean(r["recall10"] for r in runs)
            wss_means.append(wss)
            r10_means.append(r10)
            cells.append(f"{wss:7.3f}/{r10:5.2f}({statistics.mean(r['seconds'] for r in runs):3.0f}s)")
        print(f"{variant:28s} " + " ".join(f"{c:>18s}" for c in cells) + f" {statistics.mean(wss_means):12.3f} {statistics.mean(r10_means):10.3f}", flush=True)


if __name__ == "__main__":
    main()
