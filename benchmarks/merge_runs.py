"""Merge several ``runs.csv`` files of ``benchmarks/screening.py`` into one (first row per run wins).

    .venv/bin/python benchmarks/merge_runs.py OUT_DIR RUNS.csv [RUNS.csv ...]

The ``orders.jsonl`` beside each ``runs.csv`` is merged the same way, for the runs kept. Then
``benchmarks/screening.py --table-only --out OUT_DIR`` prints the table of all of them (and
``benchmarks/recall_levels.py OUT_DIR`` reads the merged orders).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screening import FIELDS, read_orders, run_key, write_orders  # noqa: E402


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    seen, rows, orders, ordered = {}, [], [], set()
    for path in argv[1:]:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                key = run_key(row)
                if key not in seen:
                    seen[key] = path
                    rows.append(row)
        for order in read_orders(Path(path).with_name("orders.jsonl")):  # (none without the file)
            key = run_key(order)
            if seen.get(key) == path and key not in ordered:  # (the kept run's order, once)
                ordered.add(key)
                orders.append(order)
    with open(out / "runs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    if orders:
        write_orders(out / "orders.jsonl", orders)
    print(f"{len(rows)} runs -> {out / 'runs.csv'}" + (f", {len(orders)} orders -> {out / 'orders.jsonl'}" if orders else ""))


if __name__ == "__main__":
    main(sys.argv[1:])
