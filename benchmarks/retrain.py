"""Time and memory of one retrain-and-rank step at 1k, 10k, 100k and 1M records.

The records are the shared screening corpora (about 19,500 titles and
abstracts) repeated until each size is reached. For each size, in a fresh
subprocess (so peak memory is per size):

1. fit :class:`ldnscreen.features.TextFeatures` and transform all records
   (feature-fit time, matrix size);
2. label ``n_labels`` records (5 % of them included), then time one
   retrain-and-rank step of :class:`ldnscreen.rankers.ActiveLearner`
   (label one more record, retrain the classifier on the labelled rows,
   score every record, pick the next one): median of ``--repeats``.

Peak memory is the process's maximum resident set size (``ru_maxrss``),
reached while fitting the features; the step's own extra memory is
measured with ``tracemalloc``.

Usage::

    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/retrain.py --sizes 1000,10000,100000,1000000
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ldnscreen.corpora import screening_files, shared_dir  # noqa: E402

SCREENING = (shared_dir() or ROOT.parent / "shared") / "corpora" / "screening"  # ($LDNSCREEN_SHARED first)


def shared_records(limit: int):
    from ldnscreen.records import Record

    csv.field_size_limit(10**8)
    base = []
    for path in screening_files(SCREENING):
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                base.append((row.get("title") or "", row.get("abstract") or ""))
    records = []
    for i in range(limit):
        title, abstract = base[i % len(base)]
        records.append(Record(title=title, abstract=abstract, id=f"b{i}"))
    return records, len(base)


def measure(size: int, n_labels: int, repeats: int, tile_from: int | None = None) -> dict:
    import scipy.sparse as sp

    from ldnscreen.rankers import ActiveLearner

    fitted = min(size, tile_from) if tile_from else size
    records, distinct = shared_records(fitted)
    learner = ActiveLearner(random_state=0)
    started, cpu_started = time.perf_counter(), time.process_time()
    learner.fit_features(records)
    fit_seconds, fit_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    del records
    if fitted < size:
        # the records repeat anyway: stack copies of the fitted matrix instead of tokenising
        # the same texts again (the step's cost depends only on the matrix)
        block = learner.X_
        copies = -(-size // fitted)
        X = sp.vstack([block] * copies, format="csr")[:size]
        learner.set_matrix(X, learner.features_)
        del block
    X = learner.X_
    rng = np.random.default_rng(0)
    labelled = rng.choice(size, size=min(n_labels + repeats + 1, size - 1), replace=False)
    for j, i in enumerate(labelled[:n_labels]):
        learner.label(int(i), int(j % 20 == 0))  # 5 % included
    learner.retrain()  # first fit, not timed
    times, fit_times, cpu_times = [], [], []
    tracemalloc.start()
    for j, i in enumerate(labelled[n_labels : n_labels + repeats]):
        learner.label(int(i), int(j % 2))
        t0, c0 = time.perf_counter(), time.process_time()
        learner.retrain()
        t1 = time.perf_counter()
        learner.next(1)
        t2, c2 = time.perf_counter(), time.process_time()
        times.append(t2 - t0)
        cpu_times.append(c2 - c0)
        fit_times.append(t1 - t0)
    _, step_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "records": size,
        "fitted_records": fitted,
        "distinct": min(distinct, size),
        "features": int(X.shape[1]),
        "nnz": int(X.nnz),
        "matrix_mb": (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20,
        "feature_fit_s": fit_seconds,
        "feature_fit_cpu_s": fit_cpu,
        "step_cpu_s": statistics.median(cpu_times),
        "load_average": __import__("os").getloadavg()[0],
        "labels": n_labels,
        "step_s": statistics.median(times),
        "step_retrain_and_score_s": statistics.median(fit_times),
        "step_extra_mb": step_peak / 2**20,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--labels", type=int, default=500, help="labelled records before the timed steps")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--tile-from", type=int, default=None,
        help="fit features on at most this many records and stack copies of the matrix up to the size "
        "(feature-fit columns then refer to the fitted records only)",
    )
    args = parser.parse_args()
    if not screening_files(SCREENING):
        parser.exit(2, f"retrain.py: no screening corpus in {SCREENING} (the records are taken from the shared "
                       "corpora: put ../shared beside the repository or set LDNSCREEN_SHARED)\n")
    if args.one:
        print(json.dumps(measure(args.one, args.labels, args.repeats, args.tile_from)))
        return
    header = (
        f"{'records':>9} {'features':>9} {'nnz':>12} {'matrix MB':>9} {'fit s':>7} {'fit cpu s':>9} "
        f"{'step s':>7} {'step cpu s':>10} {'train+score s':>13} {'step +MB':>8} {'peak RSS MB':>11} {'load':>5}"
    )
    print(header, flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--labels", str(args.labels), "--repeats", str(args.repeats)]
            + (["--tile-from", str(args.tile_from)] if args.tile_from else []),
            capture_output=True, text=True, check=False,
        )
        if out.returncode != 0:
            print(f"{size:>9} failed: {out.stderr.strip().splitlines()[-1] if out.stderr else out.returncode}", flush=True)
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        tiled = "*" if r["fitted_records"] < r["records"] else " "
        print(
            f"{r['records']:>8}{tiled} {r['features']:>9} {r['nnz']:>12} {r['matrix_mb']:>9.1f} {r['feature_fit_s']:>7.1f} "
            f"{r['feature_fit_cpu_s']:>9.1f} {r['step_s']:>7.3f} {r['step_cpu_s']:>10.3f} "
            f"{r['step_retrain_and_score_s']:>13.3f} {r['step_extra_mb']:>8.1f} {r['peak_rss_mb']:>11.0f} {r['load_average']:>5.1f}",
            flush=True,
        )
    print("(wall seconds on a shared 2-core machine; cpu = process CPU time; load = 1-min load average)")
    if args.tile_from:
        print(f"(* matrix = copies of the matrix of the first {args.tile_from} records; fit s/cpu/peak RSS are for those)")
    print(f"(median of {args.repeats} steps with {args.labels} labels; records repeat the ~19.5k shared corpus records)")


if __name__ == "__main__":
    main()
