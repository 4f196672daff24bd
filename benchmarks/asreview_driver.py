"""Run one ASReview simulation in process and time it (executed by ASReview's own venv Python).

This mirrors ``asreview simulate`` (``asreview/simulation/cli.py`` of
ASReview 2.x/3.x): the same two learning cycles (top-down until a model can
be fitted, then the chosen model), the same prior labelling, the same
stopper, ``np.random.seed(seed)``. It skips writing a project file and times
``Simulate.review()`` alone - feature extraction plus the active-learning
loop, the same span ldnscreen's ``wall_seconds`` covers - as well as the whole
process. Prints one JSON object on stdout.

    benchmarks/.venv-asreview/bin/python benchmarks/asreview_driver.py DATA.csv \\
        --model elas_u4 --seed 0 --prior-idx 3 17
"""

import argparse
import json
import time

START = time.perf_counter()
START_CPU = time.process_time()

import numpy as np  # noqa: E402
from asreview import load_dataset  # noqa: E402
from asreview.learner import ActiveLearningCycle, ActiveLearningCycleData  # noqa: E402
from asreview.models.models import get_ai_config  # noqa: E402
from asreview.models.queriers import TopDown  # noqa: E402
from asreview.models.stoppers import IsFittable, LastRelevant, NLabeled  # noqa: E402
from asreview.simulation.simulate import Simulate  # noqa: E402


def cycle_meta(model):
    if model == "tfidf-logistic":
        return ActiveLearningCycleData(querier="max", classifier="logistic", balancer="balanced",
                                       feature_extractor="tfidf")
    return get_ai_config(model)["value"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--model", default="elas_u4")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prior-idx", type=int, nargs="+", required=True)
    parser.add_argument("--n-stop", type=int, default=None)
    args = parser.parse_args()

    np.random.seed(args.seed)
    db = load_dataset(args.data, dataset_id="data.csv")
    with db:
        cycles = [
            ActiveLearningCycle(querier=TopDown(), stopper=IsFittable()),
            ActiveLearningCycle.from_meta(cycle_meta(args.model)),
        ]
        stopper = LastRelevant() if args.n_stop is None else NLabeled(args.n_stop)
        sim = Simulate(db.input.get_df(), db.input["included"], cycles, stopper=stopper, print_progress=False)
        sim.label(args.prior_idx)
        t0, c0 = time.perf_counter(), time.process_time()
        sim.review()
        review_wall, review_cpu = time.perf_counter() - t0, time.process_time() - c0
        results = sim._results
        order = [int(v) for v in results["record_id"]]
        labels = [int(v) for v in results["label"]]
        n_priors = int(results["training_set"].isna().sum())
    print(json.dumps({
        "order": order, "labels": labels, "n_priors": n_priors,
        "review_wall": review_wall, "review_cpu": review_cpu,
        "process_wall": time.perf_counter() - START, "process_cpu": time.process_time() - START_CPU,
    }))


if __name__ == "__main__":
    main()
