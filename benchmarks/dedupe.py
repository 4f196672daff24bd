"""Precision, recall and speed of :func:`ldnscreen.dedupe.find_duplicates`.

Duplicates are made from the shared screening corpora by
``benchmarks/duplicates_maker.py`` (see its docstring for the corruptions);
pairs of original records that the method groups were looked at by hand and
judged in ``benchmarks/dedupe_adjudication.csv`` (the corpora contain
genuine duplicates of their own). Beyond the ~17,700 unique real records,
``--records`` adds synthetic distinct records (real titles with 40% of their
words swapped) and their copies, for timing at scale.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/dedupe.py                    # real records only
    PYTHONPATH=. .venv/bin/python benchmarks/dedupe.py --records 100000   # with fillers
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duplicates_maker as maker  # noqa: E402

from ldnscreen.dedupe import find_duplicates  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = Path(os.environ.get("LDNSCREEN_SHARED", HERE.parents[1] / "shared"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=None, help="total records (default: real records and their copies)")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared data folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.9, help="fuzzy_threshold")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc run (peak memory)")
    parser.add_argument("--show-false", type=int, default=10, help="false-positive pairs to print")
    args = parser.parse_args(argv)

    if not (args.shared / "corpora" / "screening").is_dir():
        parser.error(f"no shared corpora under {args.shared}")
    originals = maker.load_originals(args.shared, seed=args.seed)
    labelled = maker.make_labelled_set(originals, total=args.records, seed=args.seed)
    labelled, verdicts = maker.adjudicate(labelled, HERE / "dedupe_adjudication.csv")
    records = labelled.records
    kinds = collections.Counter(labelled.kind.values())
    print(f"records: {len(records)}  (real originals {kinds['original']}, synthetic fillers {kinds['filler']}, "
          f"copies {len(records) - kinds['original'] - kinds['filler']}); seed {args.seed}")

    start, cpu_start = time.perf_counter(), time.process_time()
    groups = find_duplicates(records, fuzzy_threshold=args.threshold)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak = None
    if not args.no_memory:
        tracemalloc.start()
        find_duplicates(records, fuzzy_threshold=args.threshold)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

    scores = maker.score_groups(labelled, groups)
    print(f"\n{'pairs by corruption':<22}{'true':>7}{'found':>7}{'recall':>8}{'false+':>8}")
    for kind, (true, found, false) in scores.by_kind.items():
        recall = f"{found / true:.3f}" if true else "-"
        print(f"{kind:<22}{true:>7}{found:>7}{recall:>8}{false:>8}")
    print(f"\npairwise precision {scores.precision:.4f}  recall {scores.recall:.4f}  "
          f"({scores.correct_pairs} correct of {scores.predicted_pairs} predicted, {scores.true_pairs} true)")
    print(f"true groups recovered exactly: {scores.groups_exact:.4f}")
    strict = maker.score_groups(maker.make_labelled_set(originals, total=args.records, seed=args.seed), groups)
    print(f"without adjudication (every grouped pair of originals counted false): "
          f"precision {strict.precision:.4f}  recall {strict.recall:.4f}")
    rules = collections.Counter(g.rule for g in groups)
    print("groups by weakest rule: " + ", ".join(f"{r} {n}" for r, n in sorted(rules.items())))
    reviewed = collections.Counter(verdicts.get(p, "not reviewed") for p in scores.false_between_originals)
    print(f"false pairs between two originals: {len(scores.false_between_originals)} "
          f"({', '.join(f'{v} {n}' for v, n in reviewed.items()) or 'none'}); "
          f"other false pairs: {len(scores.false_other)}")
    by_id = {r.id: r for r in records}

    def describe(record_id: str) -> str:
        record, kind = by_id[record_id], labelled.kind[record_id]
        source = record.provenance[0] if record.provenance else None
        where = f"{source.file},{source.source_id}" if kind == "original" and source else kind
        return f"[{where}] {record.title[:70]!r} {record.year}"

    for a, b in (scores.false_between_originals + scores.false_other)[: args.show_false]:
        print(f"  - {verdicts.get((a, b), 'not reviewed')}\n    {describe(a)}\n    {describe(b)}")
    memory = f", peak traced memory {peak / 2**20:.0f} MiB" if peak is not None else ""
    load = os.getloadavg()[0]
    print(f"\nfind_duplicates: {len(records)} records in {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU "
          f"({len(records) / seconds:,.0f} records/s){memory}; {os.cpu_count()} cores, load average {load:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
