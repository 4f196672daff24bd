"""How fast ldnscreen reads each export format, and how much memory it takes.

Builds ``--records`` records (100,000 by default) by repeating the shared
screening datasets' records with new PMIDs (so every record has its own id),
writes them in every export format into a temporary folder, then reads each
file back in a fresh subprocess with :func:`ldnscreen.io.read_file` and
reports records per second and the peak resident memory of that process
(``VmHWM``; the baseline after importing ldnscreen is shown apart).

Usage::

    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/import_speed.py [--records N] [--formats csv,ris-embase]

The shared datasets are found at ``../shared/corpora/screening`` (or
``$LDNSCREEN_SHARED/corpora/screening``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from itertools import cycle, islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LDNSCREEN_SHARED") or ROOT.parent / "shared")

sys.path.insert(0, str(ROOT))
from tests.formats_helper import FILE_NAMES  # noqa: E402  (the export file names the tests use)


def build_records(n: int):
    """``n`` records: the shared datasets' records repeated, each copy with a new PMID."""
    from ldnscreen.io import read_file
    from ldnscreen.records import Provenance

    base = []
    for path in sorted((SHARED / "corpora" / "screening").glob("*.csv")):
        if path.name != "MANIFEST.csv":
            base.extend(read_file(path, format="csv", skip_bad=True).records)
    if not base:
        sys.exit(f"no shared screening datasets under {SHARED}")
    return [
        replace(record, pmid=str(90_000_000 + i), id="", provenance=(Provenance("csv", "bench.csv", i, str(i)),))
        for i, record in enumerate(islice(cycle(base), n))
    ]


def peak_memory_kb() -> int:
    """Peak resident memory of this process in KiB.

    ``VmHWM`` from ``/proc/self/status`` on Linux (it starts afresh at
    ``exec``, unlike ``ru_maxrss``, which keeps the forking parent's peak);
    ``ru_maxrss`` elsewhere.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def read_one(fmt: str, path: str) -> None:
    """Child process: read ``path`` and print counts, time and memory as JSON."""
    from ldnscreen.io import read_file

    baseline = peak_memory_kb()
    start = time.perf_counter()
    result = read_file(path)
    seconds = time.perf_counter() - start
    peak = peak_memory_kb()
    print(json.dumps({"format": result.format, "records": len(result.records), "seconds": seconds,
                      "baseline_kb": baseline, "peak_kb": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="records per file (default 100000)")
    parser.add_argument("--formats", default=",".join(FILE_NAMES), help="comma-separated formats to measure")
    parser.add_argument("--read", nargs=2, metavar=("FORMAT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        read_one(*args.read)
        return

    from ldnscreen.io import write_file

    start = time.perf_counter()
    records = build_records(args.records)
    print(f"built {len(records):,} records in {time.perf_counter() - start:.1f} s "
          f"(distinct ids: {len({r.id for r in records}):,})", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ldnscreen-bench-") as folder:
        for fmt in args.formats.split(","):
            path = Path(folder) / FILE_NAMES[fmt]
            start = time.perf_counter()
            write_file(records, path, format=fmt)
            write_seconds = time.perf_counter() - start
            child = subprocess.run(
                [sys.executable, __file__, "--read", fmt, str(path)],
                capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False,
            )
            if child.returncode != 0:
                print(f"{fmt}: reading failed: {child.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            got = json.loads(child.stdout.strip().splitlines()[-1])
            row = (fmt, path.stat().st_size / 1e6, len(records) / write_seconds, got["records"],
                   got["records"] / got["seconds"], got["seconds"], got["peak_kb"] / 1024,
                   (got["peak_kb"] - got["baseline_kb"]) / 1024)
            rows.append(row)
            print("{:<14} {:>8.1f} MB  write {:>8,.0f} rec/s  read {:>7,} records {:>8,.0f} rec/s "
                  "({:.1f} s)  peak RSS {:>6.0f} MB (+{:.0f} MB over baseline)".format(*row), flush=True)
            path.unlink()
    print()
    print("| format | file MB | write rec/s | read rec/s | read s | peak RSS MB | RSS over baseline MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for fmt, size, write_rate, n, rate, seconds, peak, delta in rows:
        print(f"| {fmt} | {size:.1f} | {write_rate:,.0f} | {rate:,.0f} | {seconds:.1f} | {peak:.0f} | {delta:.0f} |")


if __name__ == "__main__":
    main()
