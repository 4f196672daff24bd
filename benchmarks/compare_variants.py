"""Compare every ldnscreen configuration in a ``runs.csv`` with ASReview on the same runs.

Only (dataset, label, seed) triples that both have are compared. Prints, per
configuration: pairs, datasets, mean WSS@95 of both, mean difference, the
worst dataset's mean difference, datasets won, and the ratio of total wall time.

    .venv/bin/python benchmarks/compare_variants.py benchmarks/.work/full/runs.csv [--peer-model elas_u4]
"""

from __future__ import annotations

import argparse
import csv
import statistics
from collections import defaultdict


def _cpu_ratio(pairs) -> float:
    both = [(m, t) for m, t in pairs if m.get("cpu_seconds") and t.get("cpu_seconds")]
    if not both:
        return float("nan")
    return sum(float(m["cpu_seconds"]) for m, _ in both) / sum(float(t["cpu_seconds"]) for _, t in both)


def compare(rows: list[dict], peer_model: str = "elas_u4", metric: str = "wss_95",
            peer_tool: str = "asreview") -> list[dict]:
    peer = {(r["dataset"], r["label"], r["seed"]): r for r in rows
            if r["tool"] == peer_tool and r["model"] == peer_model}
    by_model = defaultdict(list)
    for r in rows:
        if r["tool"] == "ldnscreen":
            key = (r["dataset"], r["label"], r["seed"])
            if key in peer:
                by_model[r["model"]].append((r, peer[key]))
    out = []
    for model, pairs in sorted(by_model.items()):
        per_dataset = defaultdict(list)
        for mine, theirs in pairs:
            per_dataset[(mine["dataset"], mine["label"])].append(float(mine[metric]) - float(theirs[metric]))
        diffs = {k: statistics.fmean(v) for k, v in per_dataset.items()}
        worst = min(diffs, key=diffs.get)
        out.append({
            "model": model,
            "pairs": len(pairs),
            "datasets": len(diffs),
            "ldnscreen": statistics.fmean(float(m[metric]) for m, _ in pairs),
            "asreview": statistics.fmean(float(t[metric]) for _, t in pairs),
            "mean_diff": statistics.fmean(diffs.values()),
            "worst_diff": diffs[worst],
            "worst": worst[0],
            "won": sum(d > 0 for d in diffs.values()),
            "time_ratio": sum(float(m["wall_seconds"]) for m, _ in pairs)
            / sum(float(t["wall_seconds"]) for _, t in pairs),
            "cpu_ratio": _cpu_ratio(pairs),
        })
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--peer-model", default="elas_u4")
    parser.add_argument("--metric", default="wss_95")
    parser.add_argument("--peer-tool", default="asreview", help="asreview, or ldnscreen to compare with "
                                                                 "an ldnscreen configuration")
    args = parser.parse_args()
    rows, seen = [], set()
    for path in args.runs:
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                key = (r["dataset"], r["label"], r["seed"], r["tool"], r["model"])
                if key not in seen:
                    seen.add(key)
                    rows.append(r)
    result = compare(rows, args.peer_model, args.metric, args.peer_tool)
    print("| configuration | runs | datasets | ldnscreen | ASReview | mean diff | worst diff (dataset) | won | wall ratio | cpu ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for e in result:
        print(f"| {e['model']} | {e['pairs']} | {e['datasets']} | {e['ldnscreen']:.3f} | {e['asreview']:.3f} | "
              f"{e['mean_diff']:+.3f} | {e['worst_diff']:+.3f} ({e['worst']}) | {e['won']}/{e['datasets']} | "
              f"{e['time_ratio']:.2f} | {e['cpu_ratio']:.2f} |")


if __name__ == "__main__":
    main()
