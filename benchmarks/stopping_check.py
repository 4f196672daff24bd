"""How often does each stopping rule miss 95% recall, and how much work does it save?

Runs the rules of :mod:`ldnscreen.stopping` on synthetic screening orders of
varying quality, without the ranker: each order is drawn with
:func:`ldnscreen.stopping.simulated_screening_labels`, where a relevant record
is ``bias`` times as likely as an irrelevant one to come next (bias 1 = random
order; larger = a better ranking). For every rule it prints the share of runs
whose recall at the stopping point was below the target (the failure rate),
the mean recall and the mean share of records not screened (work saved).

The random-sample design is run as a reviewer would use it: screen in ranked
order until 50 irrelevant records in a row, then screen the remaining records
in random order and stop when the random-sample test rejects.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/stopping_check.py --runs 200 --n-total 2000 --seed 0
    PYTHONPATH=. .venv/bin/python benchmarks/stopping_check.py --runs 100 --n-total 10000 \
        --min-relevant 20 --max-relevant 300 --seed 1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.utils import check_random_state

from ldnscreen.stopping import RandomSampleRule, evaluate_rules, first_stop, parse_rules, simulated_screening_labels

RULES = "buscar,buscar:0.95:0.99,knee,consecutive:50,consecutive:200,share:0.5"
RANDOM_SAMPLE = "random-after-consecutive:50"


def one_run(n_total: int, n_relevant: int, bias: float, rules, rng, target: float) -> dict[str, tuple[float, float]]:
    y = simulated_screening_labels(n_total, n_relevant, bias=bias, random_state=rng)
    out = {name: (r["recall"], r["work_saved"]) for name, r in evaluate_rules(y, rules, n_total).items()}
    start = first_stop("consecutive:50", y, n_total) or n_total
    tail = y[start:].copy()
    rng.shuffle(tail)  # the remaining records, screened in random order
    z = np.concatenate([y[:start], tail])
    r = evaluate_rules(z, [RandomSampleRule(start, target, 0.95)], n_total)
    (result,) = r.values()
    out[RANDOM_SAMPLE] = (result["recall"], result["work_saved"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="synthetic orders per ranking quality")
    parser.add_argument("--n-total", type=int, default=2000, help="records per synthetic review")
    parser.add_argument("--min-relevant", type=int, default=10)
    parser.add_argument("--max-relevant", type=int, default=100)
    parser.add_argument("--bias", default="1,2,5,20", help="ranking qualities (comma-separated)")
    parser.add_argument("--rules", default=RULES)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = check_random_state(args.seed)
    rules = parse_rules(args.rules)
    t0 = time.perf_counter()
    print(f"{args.runs} runs per bias, N = {args.n_total}, relevant in [{args.min_relevant}, {args.max_relevant}], "
          f"target recall {args.target}, seed {args.seed}")
    print(f"{'bias':>5}  {'rule':<30} {'guarantee':>9} {'fail rate':>9} {'mean recall':>11} {'work saved':>10}")
    for bias in map(float, args.bias.split(",")):
        results: dict[str, list[tuple[float, float]]] = {}
        for _ in range(args.runs):
            n_relevant = int(rng.randint(args.min_relevant, args.max_relevant + 1))
            for name, value in one_run(args.n_total, n_relevant, bias, rules, rng, args.target).items():
                results.setdefault(name, []).append(value)
        guarantees = {r.name: r.guarantee for r in rules} | {RANDOM_SAMPLE: True}
        for name, values in results.items():
            recall, saved = np.array(values).T
            print(f"{bias:>5g}  {name:<30} {str(guarantees[name]):>9} {np.mean(recall < args.target):>9.3f} "
                  f"{recall.mean():>11.3f} {saved.mean():>10.3f}")
    print(f"elapsed {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
