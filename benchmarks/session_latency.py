"""How long a reviewer waits between a decision and the next record, on a 10,000-record review.

Builds a review of ``--records`` records from the shared screening corpora
(``../shared/corpora/screening``, several datasets concatenated, with the LDN
criteria), then screens ``--decisions`` records three ways and reports the
latency distribution (median, p95, max) between a committed decision and the
next record ready:

* ``session``: the real interactive loop (:class:`ldnscreen.session.ScreeningSession`)
  with scripted keys, drawing every record into an in-memory rich console;
  latency is from the decision's commit to the next record's panel drawn.
* ``api-background``: ``Review(background=True)``: ``decide()`` then ``next()``.
* ``api-sync``: ``Review(background=False)``: ``next()`` waits for the retrain
  (what the session would cost without the background thread).

"lag" is how many decisions the ranking in use had not caught up with when
the next record was drawn (0 = the record is the current model's first
choice; the sync mode is always 0).

The simulated reviewer answers with each dataset's ``label_included`` and
``--think`` seconds of reading time between records (0 = decisions as fast
as possible: the retrain thread then competes for the CPU all the time).

Run::

    PYTHONPATH=. .venv/bin/python benchmarks/session_latency.py
    PYTHONPATH=. .venv/bin/python benchmarks/session_latency.py --keep /tmp/bench10k.ldnscreen --think 0.1
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from ldnscreen.records import Provenance, Record  # noqa: E402
from ldnscreen.review import Review  # noqa: E402
from ldnscreen.session import ScreeningSession  # noqa: E402

SHARED = Path(os.environ.get("LDNSCREEN_SHARED", ROOT.parent / "shared"))
CRITERIA = ROOT / "corpora" / "ldn_review" / "criteria.toml"


def load_records(n: int) -> list[Record]:
    """``n`` distinct records from the shared screening datasets, largest first, with their labels."""
    folder = SHARED / "corpora" / "screening"
    files = sorted(folder.glob("*.csv"), key=lambda p: -p.stat().st_size)
    records: list[Record] = []
    seen: set[str] = set()  # the same citation in two datasets is one record in a review
    for path in files:
        if path.name == "MANIFEST.csv":
            continue
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                record = Record(
                    title=row.get("title") or "",
                    abstract=row.get("abstract") or "",
                    pmid=row.get("pmid") or "",
                    provenance=(Provenance(path.stem, path.name, len(records), row.get("record_id") or ""),),
                    labels={"label_included": int(float(row.get("label_included") or 0))},
                )
                if record.id in seen:
                    continue
                seen.add(record.id)
                records.append(record)
                if len(records) >= n:
                    return records
    return records


class ScriptedKeys:
    """Answers like a reviewer who knows each record's label: ``i``, or ``e`` then Enter."""

    tty = False

    def __init__(self, session_ref: list, think: float, decisions: int) -> None:
        self.session_ref = session_ref
        self.think = think
        self.left = decisions
        self.pending: list[str] = []

    def key(self) -> str:
        if self.pending:
            return self.pending.pop()
        if self.left <= 0:
            return "q"
        self.left -= 1
        if self.think:
            time.sleep(self.think)
        session = self.session_ref[0]
        record = session.current.record
        if record.labels.get("label_included"):
            return "i"
        self.pending = ["\n"]
        return "e"

    def line(self) -> str:
        return ""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run_session(path: Path, decisions: int, think: float) -> tuple[list[float], list[int]]:
    with Review.open(path, background=True) as review:
        ref: list = []
        console = Console(file=io.StringIO(), width=110)
        session = ScreeningSession(review, ScriptedKeys(ref, think, decisions), console)  # type: ignore[arg-type]
        ref.append(session)
        summary = session.run()
        session.close()
        review.queue().wait(60)
    return summary.latencies, summary.lags


def run_api(path: Path, decisions: int, think: float, background: bool) -> tuple[list[float], list[int]]:
    latencies, lags = [], []
    with Review.open(path, background=background) as review:
        item = review.next()[0]
        for _ in range(decisions):
            if think:
                time.sleep(think)
            label = "include" if item.record.labels.get("label_included") else "exclude"
            review.decide(item.record.id, label)
            committed = time.perf_counter()
            items = review.next()
            latencies.append(time.perf_counter() - committed)
            lags.append(review.queue().lag)
            if not items:
                break
            item = items[0]
        review.queue().wait(60)
    return latencies, lags


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--sync-decisions", type=int, default=40, help="decisions for the slow api-sync mode")
    parser.add_argument("--think", type=float, default=0.0, help="seconds of reading time per record")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the built review here and reuse it on the next run (each run screens a copy)")
    args = parser.parse_args(argv)
    if not (SHARED / "corpora" / "screening").is_dir():
        print(f"shared corpora not found under {SHARED}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.ldnscreen"
        if args.keep and args.keep.exists():
            shutil.copy(args.keep, path)
            with Review.open(path) as review:
                n_records = len(review.store.active_ids())
            print(f"reusing {args.keep} ({n_records} records)")
        else:
            records = load_records(args.records)
            n_records = len(records)
            start = time.perf_counter()
            with Review.create(path, criteria=CRITERIA) as review:
                review.add_records(records, file_name="shared")
                added = time.perf_counter()
                review.next()
            built = time.perf_counter()
            print(f"{n_records} records: stored in {added - start:.1f} s; features + prior fitted and cached "
                  f"in {built - added:.1f} s (once per review)")
            if args.keep:
                shutil.copy(path, args.keep)
        start = time.perf_counter()
        with Review.open(path) as review:
            review.next()
        print(f"a new session opens the cached review and shows its first record in "
              f"{time.perf_counter() - start:.2f} s")

        results = {}
        results["session (background)"] = run_session(path, args.decisions, args.think)
        results["api next() background"] = run_api(path, args.decisions, args.think, background=True)
        results["api next() sync"] = run_api(path, args.sync_decisions, args.think, background=False)

    table = Table(title=f"decision committed -> next record ready ({n_records} records, think {args.think} s)")
    for column in ("mode", "decisions", "median ms", "p95 ms", "max ms", "< 200 ms", "lag mean / max"):
        table.add_column(column, justify="right" if column != "mode" else "left")
    for mode, (values, lags) in results.items():
        table.add_row(
            mode, str(len(values)), f"{statistics.median(values) * 1000:.1f}", f"{percentile(values, 0.95) * 1000:.1f}",
            f"{max(values) * 1000:.1f}", f"{sum(v < 0.2 for v in values) / len(values):.1%}",
            f"{statistics.mean(lags):.2f} / {max(lags)}",
        )
    Console(width=max(Console().width, 100)).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
