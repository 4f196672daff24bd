"""Cost of one active-learning step: the exact kernel solver against the old liblinear default.

For each shared screening dataset, runs :func:`ldnscreen.simulate.simulate`
(seed 0, to the last relevant record, retraining after every label for the
first 100 labels) twice, side by side:

* ``liblinear``: the previous default classifier,
  ``InclusionClassifier(dual=True, tol=1e-2, inclusion_boost=10.0)``
  (liblinear through scikit-learn, fitted on the used columns);
* ``kernel``: the current default (:data:`ldnscreen.rankers.SCREENING_CLASSIFIER`,
  exact Newton over the labelled rows, :mod:`ldnscreen.logistic`).

It prints the simulation's wall and processor time, the time per
retrain-and-rank step (``ActiveLearner.next``, retraining included),
WSS@95 of each order, and how many of the first 50 screened records the
two orders share (``same50``) and the position of the first difference.

With ``--large N``, instead: the shared corpora's records repeated to ``N``
records (as ``benchmarks/retrain.py``), ``--labels`` records labelled (5 %
inclusions), then 30 retrain-and-rank steps with one new label each (half of
them inclusions), the two classifiers alternating step by step so that machine
load hits both alike; median processor time per step.

Usage::

    nice -n 5 .venv/bin/python benchmarks/step_speed.py [--datasets a,b] [--repeats 3]
    nice -n 5 .venv/bin/python benchmarks/step_speed.py --large 100000 --labels 100,300,370,500
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from ldnscreen.corpora import screening_files, shared_dir  # noqa: E402

SCREENING = (shared_dir() or ROOT.parent / "shared") / "corpora" / "screening"  # ($LDNSCREEN_SHARED first)


def timed_learner_class():
    from ldnscreen.rankers import ActiveLearner

    class TimedLearner(ActiveLearner):
        seconds = 0.0
        cpu_seconds = 0.0
        calls = 0

        def next(self, n: int = 1):
            started, cpu_started = time.perf_counter(), time.process_time()
            picks = super().next(n)
            TimedLearner.seconds += time.perf_counter() - started
            TimedLearner.cpu_seconds += time.process_time() - cpu_started
            TimedLearner.calls += 1
            return picks

    return TimedLearner


def run(records, classifier, repeats: int) -> dict:
    from ldnscreen.simulate import simulate

    Learner = timed_learner_class()
    walls, cpus, steps, cpu_steps = [], [], [], []
    for _ in range(repeats):
        Learner.seconds, Learner.cpu_seconds, Learner.calls = 0.0, 0.0, 0
        result = simulate(records, seed=0, progress=False, learner=Learner(classifier=classifier))
        walls.append(result.wall_seconds)
        cpus.append(result.cpu_seconds)
        steps.append(Learner.seconds / max(Learner.calls, 1))
        cpu_steps.append(Learner.cpu_seconds / max(Learner.calls, 1))
    return {
        "wall": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "step_ms": 1e3 * statistics.median(steps),
        "step_cpu_ms": 1e3 * statistics.median(cpu_steps),
        "steps": Learner.calls,
        "wss": result.metrics["wss_95"],
        "order": result.record_ids[result.n_priors :],
    }


def large(size: int, label_counts: list[int]) -> None:
    import scipy.sparse as sp

    from retrain import shared_records

    from ldnscreen.rankers import SCREENING_CLASSIFIER, ActiveLearner, InclusionClassifier

    records, _ = shared_records(min(size, 19_500))
    base = ActiveLearner(random_state=0).fit_features(records)
    X = sp.vstack([base.X_] * -(-size // base.X_.shape[0]), format="csr")[:size]
    old = InclusionClassifier(dual=True, tol=1e-2, inclusion_boost=10.0)
    for n_labels in label_counts:
        labelled = np.random.default_rng(0).choice(size, n_labels + 30, replace=False)
        learners = {}
        for name, classifier in (("liblinear", old), ("kernel", SCREENING_CLASSIFIER)):
            learner = ActiveLearner(random_state=0, classifier=classifier).set_matrix(X, base.features_)
            for j, i in enumerate(labelled[:n_labels]):
                learner.label(int(i), int(j % 20 == 0))
            learner.retrain()
            learners[name] = learner
        times = {"liblinear": [], "kernel": []}
        for j, i in enumerate(labelled[n_labels:]):
            for name in ("liblinear", "kernel") if j % 2 == 0 else ("kernel", "liblinear"):
                learner = learners[name]
                learner.label(int(i), int(j % 2))
                started = time.process_time()
                learner.retrain()
                learner.next(1)
                times[name].append(time.process_time() - started)
        path = "kernel" if learners["kernel"].classifier_.model_ is None else "liblinear (above max_kernel_rows)"
        print(
            f"{size} records, {n_labels} labels: liblinear {1e3 * statistics.median(times['liblinear']):.1f} ms, "
            f"kernel default {1e3 * statistics.median(times['kernel']):.1f} ms (cpu per step; its path: {path})",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=None, help="comma-separated names (default: all 16)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant; medians are printed")
    parser.add_argument("--large", type=int, default=None, help="records for the large-review comparison")
    parser.add_argument("--labels", default="100,300,500", help="labelled records before the steps (with --large)")
    args = parser.parse_args()
    paths = screening_files(SCREENING)
    named = bool(args.datasets) and not args.large  # (--large takes the records of every corpus)
    if named:
        wanted = set(args.datasets.split(","))
        paths = [p for p in paths if p.stem in wanted]
    if not paths:
        parser.exit(2, f"step_speed.py: no screening corpus{' of those names' if named else ''} "
                       f"in {SCREENING} (the shared corpora: put ../shared beside the repository or set LDNSCREEN_SHARED)\n")
    if args.large:
        large(args.large, [int(n) for n in args.labels.split(",")])
        return

    from threadpoolctl import threadpool_limits

    from ldnscreen.rankers import SCREENING_CLASSIFIER, InclusionClassifier
    from ldnscreen.simulate import load_labelled_records

    old = InclusionClassifier(dual=True, tol=1e-2, inclusion_boost=10.0)
    head = f"{'wall s':>6} {'cpu s':>6} {'ms/step':>7} {'cpu ms':>6} {'WSS95':>6}"
    print(f"{'dataset':<34} {'records':>7} {'steps':>5} | {head} | {head} | {'same50':>6} {'1st diff':>8}")
    print(f"{'':<34} {'':>7} {'':>5} | {'liblinear (old default)':^36} | {'kernel (new default)':^36} |")
    totals = {"old": [], "new": [], "old_cpu": [], "new_cpu": [], "dwss": []}
    with threadpool_limits(limits=1):
        for path in paths:
            records = load_labelled_records(path)
            a = run(records, old, args.repeats)
            b = run(records, SCREENING_CLASSIFIER, args.repeats)
            first50a, first50b = a["order"][:50], b["order"][:50]
            same = len(set(first50a) & set(first50b))
            diff = next((i for i, (u, v) in enumerate(zip(a["order"], b["order"])) if u != v), None)
            cells = [f"{r['wall']:>6.3f} {r['cpu']:>6.3f} {r['step_ms']:>7.3f} {r['step_cpu_ms']:>6.3f} {r['wss']:>6.3f}" for r in (a, b)]
            print(
                f"{path.stem:<34} {len(records):>7} {b['steps']:>5} | {cells[0]} | {cells[1]} | "
                f"{same:>6} {('-' if diff is None else diff + 1):>8}",
                flush=True,
            )
            totals["old"].append(a["step_ms"])
            totals["new"].append(b["step_ms"])
            totals["old_cpu"].append(a["step_cpu_ms"])
            totals["new_cpu"].append(b["step_cpu_ms"])
            totals["dwss"].append(b["wss"] - a["wss"])
    if totals["old"]:
        print(
            f"median ms/step: liblinear {statistics.median(totals['old']):.3f} (cpu {statistics.median(totals['old_cpu']):.3f}), "
            f"kernel {statistics.median(totals['new']):.3f} (cpu {statistics.median(totals['new_cpu']):.3f}); "
            f"WSS@95 change (kernel - liblinear): mean {statistics.mean(totals['dwss']):+.4f}, "
            f"min {min(totals['dwss']):+.4f}, max {max(totals['dwss']):+.4f}"
        )
        print(f"(seed 0, medians of {args.repeats} runs, single-threaded BLAS; ms/step = ActiveLearner.next incl. retrain)")


if __name__ == "__main__":
    main()
