"""Stopping rules on the shared screening corpora: how often each keeps its promise, and the work it saves.

Every dataset is simulated with ldnscreen to the end (``stop="all"``) for each seed, and every rule is
replayed on the screening order (:func:`ldnscreen.stopping.evaluate_rules`). A run fails when the rule
stops before 95 % recall. Prints one table per rule and dataset, then one line per rule over all runs.

    python benchmarks/stopping_shared.py [--seeds 5] [--rules buscar,knee,consecutive:50,share:0.5]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldnscreen.corpora import screening_files  # noqa: E402
from ldnscreen.simulate import load_labelled_records, simulate  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder of labelled CSVs (default: ../shared/corpora/screening)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    parser.add_argument("--rules", default="buscar,knee,consecutive:50,share:0.5")
    parser.add_argument("--label", default="label_included")
    parser.add_argument("--out", default="benchmarks/.work/stopping_shared.csv", help="per-run CSV")
    parser.add_argument("--table-only", action="store_true", help="print the tables of the runs already in --out")
    args = parser.parse_args(argv)

    files = screening_files(args.data_dir)
    if not files:
        print("no screening corpora found (../shared/corpora/screening)")
        return 0
    if args.table_only:
        with open(args.out, newline="") as f:
            rows = [{**r, "stopped_at": int(r["stopped_at"]) if r["stopped_at"] else None,
                     "recall": float(r["recall"]), "work_saved": float(r["work_saved"])} for r in csv.DictReader(f)]
        print_tables(rows, files)
        return 0
    rows = []
    for path in files:
        records = load_labelled_records(path)
        for seed in range(args.seeds):
            result = simulate(records, label=args.label, seed=seed, stop="all", stopping=args.rules, progress=False)
            for rule, r in result.stopping.items():
                rows.append({"dataset": path.stem, "seed": seed, "rule": rule, "stopped_at": r["stopped_at"],
                             "recall": r["recall"], "work_saved": r["work_saved"]})
            print(f"{path.stem} seed {seed}: " + ", ".join(
                f"{k} recall {v['recall']:.3f} saved {v['work_saved']:.3f}" for k, v in result.stopping.items()),
                flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print_tables(rows, files)
    return 0


def print_tables(rows: list[dict], files: list[Path]) -> None:
    print("\n| rule | dataset | runs | mean recall | min recall | runs below 0.95 | mean work saved |")
    print("|---|---|---|---|---|---|---|")
    rules = list(dict.fromkeys(r["rule"] for r in rows))
    for rule in rules:
        for dataset in dict.fromkeys(r["dataset"] for r in rows):
            sel = [r for r in rows if r["rule"] == rule and r["dataset"] == dataset]
            print(f"| {rule} | {dataset} | {len(sel)} | {statistics.mean(r['recall'] for r in sel):.3f} | "
                  f"{min(r['recall'] for r in sel):.3f} | {sum(r['recall'] < 0.95 for r in sel)} | "
                  f"{statistics.mean(r['work_saved'] for r in sel):.3f} |")
    print("\n| rule | runs | fired before the end | runs reaching recall >= 0.95 | failure rate | mean work saved |"
          " work saved, reviews >= 1,500 records |")
    print("|---|---|---|---|---|---|---|")
    sizes = {p.stem: len(load_labelled_records(p)) for p in files}
    for rule in rules:
        sel = [r for r in rows if r["rule"] == rule]
        big = [r["work_saved"] for r in sel if sizes[r["dataset"]] >= 1500]
        ok = sum(r["recall"] >= 0.95 for r in sel)
        fired = sum(r["stopped_at"] is not None for r in sel)
        print(f"| {rule} | {len(sel)} | {fired} | {ok} ({ok / len(sel):.1%}) | {1 - ok / len(sel):.1%} | "
              f"{statistics.mean(r['work_saved'] for r in sel):.3f} | {statistics.mean(big) if big else float('nan'):.3f} |")


if __name__ == "__main__":
    raise SystemExit(main())
