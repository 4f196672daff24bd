"""Run one ldnscreen simulation in a process of its own and time it, as ``asreview_driver.py`` does for ASReview.

``benchmarks/screening.py --ldnscreen-process fresh`` runs this once per run, so that both tools
are timed in the same conditions: a new process that has imported its package and read the data,
then the simulation alone (feature fitting plus the active-learning loop: ``simulate``'s
``wall_seconds``, the span ``asreview_driver.py`` times around ``Simulate.review()``). Prints one
JSON object on stdout: the order as rows of the records that carry the label (priors first), their
labels, the number of priors, the timed wall and processor seconds, the peak resident memory and
the whole process's wall time.

    .venv/bin/python benchmarks/ldnscreen_driver.py DATA.csv --label label_included --seed 0
"""

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ldnscreen.simulate import load_labelled_records, simulate  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--label", default="label_included")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prior-included", type=int, default=1)
    parser.add_argument("--prior-excluded", type=int, default=1)
    parser.add_argument("--no-keywords", action="store_true", help="drop the records' keywords")
    args = parser.parse_args(argv)

    records = load_labelled_records(args.data)
    if args.no_keywords:
        records = [replace(r, keywords=()) for r in records]
    subset = [r for r in records if args.label in r.labels]
    result = simulate(subset, label=args.label, seed=args.seed, prior_included=args.prior_included,
                      prior_excluded=args.prior_excluded, progress=False, dataset=args.data.stem)
    print(json.dumps({
        "rows": list(result.rows), "labels": list(result.labels),  # (positions in subset: ids may repeat)
        "n_priors": result.n_priors, "wall_seconds": result.wall_seconds, "cpu_seconds": result.cpu_seconds,
        "peak_memory_mb": result.peak_memory_mb, "process_wall": time.perf_counter() - START,
    }))


if __name__ == "__main__":
    main()
