"""Large reviews composed from labelled ones, for the screening benchmark.

The shared reviews have 310 to 2,544 records each; a broad search returns ten times that. This
script writes, for each review ``D`` of a folder, one composed review: ``D``'s records with ``D``'s
labels, and every record of the folder's other reviews as irrelevant, the way a broader search
would have returned them beside ``D``'s. A record of another review that shares a PMID or a title
(compared lower case, letters and digits only) with a record already written is left out, as
deduplication would, so no record of ``D`` comes back labelled irrelevant.

Only the title and the abstract are written (``record_id, title, abstract, label``). Keywords are
left out because some reviews have none, and their absence would tell the composed review's own
records from the others.

The files are written outside the repository (they hold the third-party records); run the
benchmark on them with ``--data-dir``::

    .venv/bin/python benchmarks/compose_reviews.py --pattern 'cohen2006_*' --out /tmp/composed
    .venv/bin/python benchmarks/screening.py --data-dir /tmp/composed --seeds 1 --labels label_included \\
        --peer asreview --peer-model elas_u4 --ldnscreen-process fresh --out benchmarks/.work/composed
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldnscreen.corpora import shared_dir  # noqa: E402
from ldnscreen.io import ReadError  # noqa: E402
from ldnscreen.simulate import _source_id, load_labelled_records  # noqa: E402

DEFAULT_DATA = (shared_dir() or ROOT.parent / "shared") / "corpora" / "screening"
TABLES = (".csv", ".tsv", ".xlsx")  # labelled tables, as the screening benchmark reads them


def _title_key(title: str) -> str:
    return re.sub(r"[^a-z0-9]", "", title.lower())


def compose(files: list[Path], label: str = "label_included") -> dict[str, tuple[list[tuple], int]]:
    """``{review: (rows, left_out)}``: for each file, its records that carry ``label`` (``record_id``
    prefixed by the file's name, title, abstract, label), then the other files' records with label
    0, without those that repeat a PMID or title already in the rows (``left_out`` of them)."""
    reviews = {}
    for path in files:
        try:
            records = load_labelled_records(path)  # the file's record_id, else its row number
        except (ReadError, ValueError) as exc:  # one unreadable file does not stop the others
            print(f"skipped {path.name}: {exc}", file=sys.stderr)
            continue
        reviews[path.stem] = [(f"{path.stem}:{_source_id(r, i)}", r)  # the file's record_id, else its row
                              for i, r in enumerate(records) if label in r.labels]
    composed = {}
    for name, own in reviews.items():
        pmids, titles, rows, left_out = set(), set(), [], 0
        others = [pair for other, pairs in reviews.items() if other != name for pair in pairs]
        for is_own, (rid, r) in [*((True, pair) for pair in own), *((False, pair) for pair in others)]:
            key = _title_key(r.title)
            if not is_own and ((r.pmid and r.pmid in pmids) or (key and key in titles)):
                left_out += 1
                continue
            if r.pmid:
                pmids.add(r.pmid)
            if key:
                titles.add(key)
            rows.append((rid, r.title, r.abstract, int(r.labels[label]) if is_own else 0))
        composed[name] = (rows, left_out)
    return composed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pattern", default="*", help="which files of --data-dir, a glob on the name without "
                                                        "its extension (.csv, .tsv or .xlsx)")
    parser.add_argument("--label", default="label_included")
    parser.add_argument("--out", type=Path, required=True, help="folder to write (outside the repository)")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.data_dir.glob(f"{args.pattern}.*")
                   if p.suffix.lower() in TABLES and p.name != "MANIFEST.csv" and not p.name.startswith("."))
    if len(files) < 2:
        raise SystemExit(f"{args.data_dir}: {len(files)} file(s) match {args.pattern} with an extension of "
                         f"{', '.join(TABLES)}; composing needs two or more")
    args.out.mkdir(parents=True, exist_ok=True)
    print("| composed review | records | relevant | other reviews' records left out as repeats |")
    print("|---|---|---|---|")
    for name, (rows, left_out) in compose(files, args.label).items():
        if not any(row[3] for row in rows):  # nothing to find: not a review to simulate
            print(f"not written: {name} has no record labelled relevant for {args.label}", file=sys.stderr)
            continue
        with open(args.out / f"composed_{name}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["record_id", "title", "abstract", args.label])
            writer.writerows(rows)
        print(f"| {name} | {len(rows):,} | {sum(row[3] for row in rows)} | {left_out:,} |")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
