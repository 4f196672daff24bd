"""Throughput and memory of the extraction pipeline over the shared screening corpora.

Usage (from the repository root)::

    nice -n 10 python benchmarks/extraction.py --shared ../shared --n 2000

Prints abstracts/second (wall clock, and per CPU second, which is what one
free core would do) for ``nlp.pipe`` on one process, ``nlp.pipe(n_process=2)``,
and the whole :func:`ldnscreen.extract.extract_records` path (pipeline plus
normalisation, drug attachment and study type) on one process, with the
peak resident memory of each run (``resource.getrusage``, children included
for ``n_process=2``) and the peak Python allocation under ``tracemalloc``
for a smaller run. Abstracts are sampled from all CSVs with a fixed seed.
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ldnscreen.extract import load_pipeline  # noqa: E402
from ldnscreen.extract.extraction import extract_records, record_text  # noqa: E402


def load_abstracts(shared: Path, n: int, seed: int = 0) -> list[dict]:
    csv.field_size_limit(10_000_000)
    rows = []
    for path in sorted((shared / "corpora" / "screening").glob("*.csv")):
        if path.name == "MANIFEST.csv":
            continue
        with open(path, newline="", encoding="utf-8") as handle:
            rows += [r for r in csv.DictReader(handle) if (r.get("abstract") or "").strip()]
    random.Random(seed).shuffle(rows)
    return rows[:n]


def _rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(name, count, work, memory=None):
    wall, cpu = time.perf_counter(), _cpu_seconds()
    work()
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    return (name, count, wall, count / wall, count / cpu, memory() if memory else _rss_mb())


def run(shared: Path, n: int, model: str | None, batch_size: int) -> list[tuple]:
    rows = load_abstracts(shared, n)
    texts = [record_text(r) for r in rows]
    nlp = load_pipeline(model)
    list(nlp.pipe(texts[:50]))  # warm up
    results = [
        _timed("nlp.pipe, 1 process", len(texts), lambda: list(nlp.pipe(texts, batch_size=batch_size))),
        _timed("extract_records, 1 process", len(rows), lambda: extract_records(rows, nlp, batch_size=batch_size)),
        _timed("nlp.pipe, n_process=2", len(texts),
               lambda: [None for _ in nlp.pipe(texts, batch_size=batch_size, n_process=2)],
               memory=lambda: _rss_mb() + _rss_mb(resource.RUSAGE_CHILDREN)),
    ]

    small = texts[: min(300, len(texts))]
    tracemalloc.start()
    row = _timed("nlp.pipe under tracemalloc", len(small), lambda: list(nlp.pipe(small, batch_size=batch_size)),
                 memory=lambda: tracemalloc.get_traced_memory()[1] / 2**20)
    tracemalloc.stop()
    results.append(row)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    from ldnscreen.corpora import shared_dir

    parser.add_argument("--shared", type=Path, default=shared_dir() or Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--n", type=int, default=2000, help="abstracts to process")
    parser.add_argument("--model", default=None, help="pipeline directory (default: models/ldnscreen_extract)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    if not (args.shared / "corpora" / "screening").is_dir():
        print(f"no screening corpora under {args.shared}", file=sys.stderr)
        return 1
    results = run(args.shared, args.n, args.model, args.batch_size)
    print(f"{'run':<30} {'abstracts':>9} {'seconds':>8} {'abstracts/s':>12} {'per CPU-s':>10} {'peak MB':>9}")
    for name, count, seconds, rate, per_cpu, memory in results:
        print(f"{name:<30} {count:>9d} {seconds:>8.1f} {rate:>12.1f} {per_cpu:>10.1f} {memory:>9.1f}")
    print("abstracts/s: wall clock; per CPU-s: abstracts per CPU second of this process and its workers "
          "(the one-core rate on a busy machine); peak MB: max RSS (getrusage; parent + largest child for "
          "n_process=2); tracemalloc row: peak Python-level allocations (spaCy's C memory is not traced)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
