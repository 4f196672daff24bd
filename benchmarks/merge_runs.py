"""Merge several ``runs.csv`` files of ``benchmarks/screening.py`` into one (first row per run wins).

    .venv/bin/python benchmarks/merge_runs.py OUT_DIR RUNS.csv [RUNS.csv ...]

Then ``benchmarks/screening.py --table-only --out OUT_DIR`` prints the table of all of them.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screening import FIELDS  # noqa: E402


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    seen, rows = set(), []
    for path in argv[1:]:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                key = (row["dataset"], row["label"], row["seed"], row["tool"], row["model"])
                if key not in seen:
                    seen.add(key)
                    rows.append(row)
    with open(out / "runs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} runs -> {out / 'runs.csv'}")


if __name__ == "__main__":
    main(sys.argv[1:])
