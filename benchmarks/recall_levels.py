"""Work saved at every recall level, ldnscreen against its peer, from a screening benchmark's runs.

WSS@95 is decided by where one record lands: the ``K``-th relevant one, ``K`` the largest count
with ``K / R <= 0.95`` (asreview-insights' definition, the benchmark's). This script asks how the
comparison looks at other recall levels and with the other rounding of ``K`` (``ceil(0.95 R)``,
the 95 % point ``records_to_95_recall`` uses), from the orders a benchmark run stored
(``orders.jsonl``) and its ``runs.csv``: a table of the mean over datasets (each the mean over
the seeds both tools ran), how many datasets ldnscreen is ahead on, the worst dataset and a
Wilcoxon signed-rank test over datasets, and a picture of the difference against recall
(``recall_levels_<label>.png`` beside the runs, one thin line per dataset and their mean).

Example::

    .venv/bin/python benchmarks/recall_levels.py benchmarks/.work/session8-fresh

It reads only what the benchmark wrote; nothing is re-run.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))  # (screening, for its Wilcoxon test)

from ldnscreen.metrics import complete_order, work_saved_over_sampling  # noqa: E402

#: Recall levels of the table (the picture draws 0.50 to 1.00 in steps of 0.01).
LEVELS = (0.80, 0.85, 0.90, 0.95, 1.0)


def wss_by_level(run_dir: Path, label: str, peer_tool: str = "asreview", model: str = "default",
                 peer_model: str = "elas_u4") -> dict:
    """``{level: {dataset: {tool: [wss per seed]}}}`` for the seeds both tools ran (ldnscreen's
    configuration ``model``, the peer's ``peer_model``), from a benchmark's ``runs.csv`` and
    ``orders.jsonl``; level ``"95c"`` is WSS@95 with ``K = ceil(0.95 R)``."""
    runs = {(r["dataset"], int(r["seed"]), r["tool"], r["model"], r["label"]): r
            for r in csv.DictReader(open(run_dir / "runs.csv", newline=""))}
    orders = [json.loads(line) for line in open(run_dir / "orders.jsonl") if line.strip()]
    wanted = {("ldnscreen", model), (peer_tool, peer_model)}
    orders = [o for o in orders if o["label"] == label and (o["tool"], o["model"]) in wanted]
    tools_of = defaultdict(set)
    for o in orders:
        tools_of[(o["dataset"], o["seed"])].add(o["tool"])
    levels = [*np.round(np.arange(0.50, 1.0001, 0.01), 2).tolist(), "95c"]
    out: dict = {level: defaultdict(lambda: defaultdict(list)) for level in levels}
    for o in orders:
        if len(tools_of[(o["dataset"], o["seed"])]) < 2:  # a seed only one tool ran
            continue
        run = runs[(o["dataset"], o["seed"], o["tool"], o["model"], o["label"])]
        n_pool, r = int(run["n_records"]), int(run["n_relevant"])  # (the metrics' counts: priors excluded)
        full = complete_order(o["labels"][o["n_priors"]:], n_pool, r)
        if abs(work_saved_over_sampling(full, 0.95) - float(run["wss_95"])) > 1e-9:
            raise ValueError(f"{run_dir}: the order of {o['dataset']} seed {o['seed']} ({o['tool']}) does not give "
                             f"its runs.csv WSS@95")
        for level in levels:
            recall = math.ceil(round(0.95 * r, 9)) / r if level == "95c" else level
            out[level][o["dataset"]][o["tool"]].append(work_saved_over_sampling(full, recall))
    return out


def summarise(per_dataset: dict, peer_tool: str = "asreview") -> dict:
    """Mean of each tool over datasets, the differences, datasets ahead, the worst and Wilcoxon's p."""
    from screening import _wilcoxon_p  # (the benchmark table's test, zero differences dropped)

    diffs = {d: float(np.mean(t["ldnscreen"]) - np.mean(t[peer_tool])) for d, t in per_dataset.items()}
    worst = min(diffs, key=diffs.get)
    p = _wilcoxon_p(list(diffs.values()))
    return {
        "ldnscreen": float(np.mean([np.mean(t["ldnscreen"]) for t in per_dataset.values()])),
        "peer": float(np.mean([np.mean(t[peer_tool]) for t in per_dataset.values()])),
        "difference": float(np.mean(list(diffs.values()))),
        "ahead": sum(v > 0 for v in diffs.values()),
        "datasets": len(diffs),
        "worst": (worst, diffs[worst]),
        "p": float("nan") if p is None else p,
        "diffs": diffs,
    }


def plot(levels: dict, path: Path, label: str, peer_tool: str) -> None:
    """The difference in WSS against recall: one thin line per dataset, their mean in bold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recalls = [level for level in levels if level != "95c"]
    summaries = [summarise(levels[level], peer_tool) for level in recalls]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for dataset in summaries[0]["diffs"]:
        ax.plot(recalls, [s["diffs"][dataset] for s in summaries], color="grey", linewidth=0.6, alpha=0.5,
                label="one dataset (mean over seeds)" if dataset == next(iter(summaries[0]["diffs"])) else None)
    ax.plot(recalls, [s["difference"] for s in summaries], color="tab:blue", linewidth=2,
            label="mean over datasets")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(0.95, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xlabel("recall level")
    ax.set_ylabel(f"WSS, ldnscreen - {peer_tool}")
    ax.set_title(f"Work saved at each recall level, {label}", fontsize=10)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report(run_dir: Path, label: str, peer_tool: str = "asreview", model: str = "default",
           peer_model: str = "elas_u4", suffix: str = "") -> tuple[str, Path] | None:
    """The table (markdown) for one label level of a benchmark run and the picture it wrote
    (``recall_levels_<label><suffix>.png``), or ``None`` where no dataset has runs of both tools."""
    levels = wss_by_level(run_dir, label, peer_tool, model, peer_model)
    if not levels[0.95]:
        return None
    rows = [("95c", "WSS@95, K = ceil(0.95 R)")] + [(level, f"WSS@{round(level * 100)}") for level in LEVELS]
    rows.sort(key=lambda row: 0.951 if row[0] == "95c" else row[0])
    lines = [f"| measure | ldnscreen | {peer_tool} | difference | ldnscreen ahead | worst dataset | Wilcoxon p |",
             "|---|---|---|---|---|---|---|"]
    for level, name in rows:
        s = summarise(levels[level], peer_tool)
        name += " (the benchmark's)" if level == 0.95 else ""
        lines.append(f"| {name} | {s['ldnscreen']:.4f} | {s['peer']:.4f} | {s['difference']:+.4f} "
                     f"| {s['ahead']}/{s['datasets']} | {s['worst'][0]} {s['worst'][1]:+.3f} | {s['p']:.3f} |")
    path = run_dir / f"recall_levels_{label}{suffix}.png"
    plot(levels, path, label, peer_tool)
    return "\n".join(lines), path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a benchmarks/screening.py --out folder (runs.csv, orders.jsonl)")
    parser.add_argument("--label", default="label_included")
    parser.add_argument("--peer-tool", default="asreview")
    parser.add_argument("--model", default="default", help="ldnscreen's configuration (--model-name of the run)")
    parser.add_argument("--peer-model", default="elas_u4")
    args = parser.parse_args(argv)
    if not (args.run_dir / "runs.csv").is_file() or not (args.run_dir / "orders.jsonl").is_file():
        print(f"{args.run_dir}: no runs.csv and orders.jsonl (the --out folder of benchmarks/screening.py)",
              file=sys.stderr)
        return 1
    from screening import output_suffix  # (the file names screening.py gives this model's outputs)

    result = report(args.run_dir, args.label, args.peer_tool, args.model, args.peer_model, output_suffix(args.model))
    if result is None:
        print(f"{args.run_dir}: no dataset has runs of both ldnscreen:{args.model} and "
              f"{args.peer_tool}:{args.peer_model} for {args.label}", file=sys.stderr)
        return 1
    table, path = result
    print(table)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
