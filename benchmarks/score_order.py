"""Independent scorer: recompute simulation metrics from ``order.csv`` and the input labels.

This script deliberately does not import ``ldnscreen`` (nor numpy): it
re-implements the asreview-insights definitions in plain Python from the
written screening order and the labels of the original data file, so that a
bug in ``ldnscreen.metrics`` or in the simulation's bookkeeping (a prior
counted as screened, a record screened twice, a missing record) shows up as a
disagreement with ``metrics.json``.

Usage::

    python benchmarks/score_order.py OUT_DIR/order.csv DATA.csv [--label label_included] [--encoding latin-1]

DATA is a CSV, TSV or XLSX file.

prints the metrics as JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path


def _key(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def _table(data_path: Path, encoding: str) -> list[list[str]]:
    """The rows of a CSV, TSV or XLSX file (the first: the column names), every cell as text."""
    if data_path.suffix.lower() == ".xlsx":  # (openpyxl, as the importers read spreadsheets)
        from openpyxl import load_workbook

        book = load_workbook(data_path, read_only=True, data_only=True)
        rows = [["" if c is None else str(int(c) if isinstance(c, float) and c.is_integer() else c) for c in row]
                for row in book.worksheets[0].iter_rows(values_only=True)]
        book.close()
        return [row for row in rows if any(cell.strip() for cell in row)]
    with open(data_path, newline="", encoding=encoding) as f:
        first = f.readline()
        f.seek(0)
        delimiter = "\t" if data_path.suffix.lower() == ".tsv" else ";" if ";" in first and "," not in first else ","
        return [row for row in csv.reader(f, delimiter=delimiter) if row]


def read_input_labels(data_path: Path, label: str, encoding: str = "utf-8-sig") -> dict[str, int]:
    """Labels of the input file keyed by its ``record_id`` column (or 0-based row number).

    Column names are matched ignoring case and punctuation (``Record ID``, ``Label_Included``), a
    ``.csv`` whose header has semicolons and no comma is read as semicolon-separated, a ``.tsv`` is
    tab-separated and an ``.xlsx`` is read from its first sheet, as ``ldnscreen simulate`` reads them.
    """
    header, *table = _table(Path(data_path), encoding)
    by_key = {_key(name): i for i, name in enumerate(header)}
    id_column, label_column = by_key.get("recordid"), by_key.get(_key(label))

    def cell(row: list[str], i: int | None) -> str:
        return row[i].strip() if i is not None and i < len(row) else ""

    rows = [(cell(row, id_column), cell(row, label_column)) for row in table]
    # a record_id repeated anywhere in the file identifies nothing: row numbers for every record then
    ids = [key for key, _ in rows if key]
    by_row_number = len(set(ids)) < len(ids)
    labels = {}
    for row_number, (key, value) in enumerate(rows):
        if value == "" or float(value) == -1:  # (-1: not labelled, as ASReview writes it)
            continue
        labels[str(row_number) if by_row_number or not key else key] = int(float(value))
    return labels


def read_order(order_path: Path) -> list[dict]:
    with open(order_path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def score(order_rows: list[dict], input_labels: dict[str, int]) -> dict[str, float]:
    """Metrics of a screening order, priors excluded, checked against the input labels."""
    seen = set()
    priors = set()
    screened = []
    for row in order_rows:
        rid = row["record_id"]
        if rid in seen:
            raise ValueError(f"record {rid} screened twice")
        seen.add(rid)
        truth = input_labels[rid]
        if int(row["label"]) != truth:
            raise ValueError(f"record {rid}: order.csv says {row['label']}, input says {truth}")
        if row["is_prior"] in ("1", "True", "true"):
            if screened:
                raise ValueError(f"prior {rid} after screened records")
            priors.add(rid)
        else:
            screened.append(truth)
    rest = [y for rid, y in input_labels.items() if rid not in seen]
    # complete the order pessimistically: unscreened irrelevant records first, relevant last
    y = screened + sorted(rest)
    n = len(y)
    r = sum(y)

    cumulative = []
    total = 0
    for v in y:
        total += v
        cumulative.append(total)

    def recall_after(fraction: float) -> float:
        k = 0
        for i in range(1, n + 1):
            if i / n <= fraction:
                k = i
        return 0.0 if k == 0 else cumulative[k - 1] / r

    def wss(target: float) -> float:
        k = 0
        for j in range(1, r + 1):
            if j / r <= target:
                k = j
        k = max(k, 1)
        found_at = cumulative.index(k)  # 0-based position of the k-th relevant record
        # random screening's expected curve: round(j * r / (n - 1)), rounding half to even
        random_at = next(
            i for i in range(n) if round(i * (r / (n - 1)) if n > 1 else r) >= k
        )
        return (random_at - found_at) / n

    positions = [i + 1 for i, v in enumerate(y) if v == 1]
    needed = math.ceil(round(0.95 * r, 9))
    return {
        "n_records": n,
        "n_relevant": r,
        "n_priors": len(priors),
        "wss_95": wss(0.95),
        "wss_100": wss(1.0),
        "rrf_10": recall_after(0.10),
        "rrf_25": recall_after(0.25),
        "atd": sum(positions) / len(positions),
        "loss": (r * (n - (r - 1) / 2) - sum(cumulative)) / (r * (n - r)),
        "records_to_95_recall": cumulative.index(needed) + 1,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Recompute screening metrics from order.csv.")
    parser.add_argument("order", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("--label", default="label_included")
    parser.add_argument("--encoding", default="utf-8-sig", help="the data file's text encoding")
    args = parser.parse_args(argv)
    result = score(read_order(args.order), read_input_labels(args.data, args.label, args.encoding))
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
