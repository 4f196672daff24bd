"""The compiled inner loops (``ldnscreen/_kernels.c``) against the numpy/Arrow code they replace, side by side.

For each dataset, simulates to the last relevant record with each code in turn, in one process,
alternating which goes first (so that the machine's load hits both alike), over ``--repeats``
rounds of the seeds 0-4. Prints the median wall time of a simulation with each code, their
ratio, and how many of the paired runs screened in the identical order (they should all: the
compiled code takes the same steps, and its products are the same sums). With ``--phases``, also
the median time of the feature fit within those simulations.

Usage::

    nice -n 5 .venv/bin/python benchmarks/compiled.py [--datasets cohen2006_nsaids,cohen2006_oralhypoglycemics] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # as both benchmark drivers run
    os.environ.setdefault(_name, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldnscreen import features, logistic  # noqa: E402
from ldnscreen._compiled import kernels  # noqa: E402
from ldnscreen.corpora import shared_dir  # noqa: E402
from ldnscreen.rankers import ActiveLearner  # noqa: E402
from ldnscreen.simulate import load_labelled_records, simulate  # noqa: E402

DEFAULT_DATA = (shared_dir() or ROOT.parent / "shared") / "corpora" / "screening"


def use_compiled(on: bool) -> None:
    logistic._kernels = features._kernels = kernels if on else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA))
    parser.add_argument("--datasets", default="cohen2006_nsaids,cohen2006_oralhypoglycemics")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of the seeds 0-4")
    parser.add_argument("--label", default="label_included")
    parser.add_argument("--phases", action="store_true", help="also time the feature fit")
    args = parser.parse_args(argv)
    if kernels is None:
        print("ldnscreen._kernels was not compiled (pip install -e . with a C compiler)", file=sys.stderr)
        return 1
    missing = [name for name in args.datasets.split(",") if not (Path(args.data_dir) / f"{name}.csv").is_file()]
    if missing:
        print(f"compiled.py: no {', '.join(name + '.csv' for name in missing)} in {args.data_dir} "
              "(--data-dir: a folder of screening CSVs, by default the shared corpora)", file=sys.stderr)
        return 2

    feature_times: dict[bool, list[float]] = {True: [], False: []}
    fit_features = ActiveLearner.fit_features

    def timed_fit(self, records):
        start = time.perf_counter()
        try:
            return fit_features(self, records)
        finally:
            feature_times[features._kernels is not None].append(time.perf_counter() - start)

    if args.phases:
        ActiveLearner.fit_features = timed_fit
    header = f"{'dataset':<34} {'runs':>4} {'compiled ms':>11} {'numpy ms':>9} {'ratio':>6} {'same order':>10}"
    if args.phases:
        header += f" {'features c/n ms':>16}"
    print(header)
    for name in args.datasets.split(","):
        records = [r for r in load_labelled_records(Path(args.data_dir) / f"{name}.csv") if args.label in r.labels]
        times: dict[bool, list[float]] = {True: [], False: []}
        feature_times[True].clear()
        feature_times[False].clear()
        same = runs = 0
        for on in (True, False):  # one untimed run each: imports, first-call caches
            use_compiled(on)
            simulate(records, label=args.label, seed=0, progress=False)
        feature_times[True].clear()
        feature_times[False].clear()
        for round_ in range(args.repeats):
            for seed in range(5):
                first = (round_ + seed) % 2 == 0
                orders = {}
                for on in (first, not first):
                    use_compiled(on)
                    result = simulate(records, label=args.label, seed=seed, progress=False)
                    times[on].append(result.wall_seconds)
                    orders[on] = list(result.record_ids)
                runs += 1
                same += orders[True] == orders[False]
        use_compiled(True)
        compiled, plain = statistics.median(times[True]) * 1000, statistics.median(times[False]) * 1000
        line = f"{name:<34} {runs:>4} {compiled:>11.1f} {plain:>9.1f} {plain / compiled:>6.2f} {same:>5}/{runs:<4}"
        if args.phases:
            line += f" {statistics.median(feature_times[True]) * 1000:>7.1f}/{statistics.median(feature_times[False]) * 1000:<7.1f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
