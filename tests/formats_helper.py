"""Write a shared screening CSV in every export format, for round-trip tests.

The shared screening datasets (``record_id,title,abstract,label_included...``)
live outside the repository; :func:`convert` turns one (or its first ``limit``
rows) into the file a database would have exported, using ldnscreen's own
writers, so a test can read it back and compare titles, abstracts, labels and
ids with the CSV.
"""

from __future__ import annotations

import csv
import os
from functools import lru_cache
from itertools import islice
from pathlib import Path

from ldnscreen.io import FORMATS, write_file
from ldnscreen.io.tabular import CsvReader
from ldnscreen.records import Record

SHARED = Path(os.environ.get("LDNSCREEN_SHARED") or Path(__file__).resolve().parents[1].parent / "shared")
SCREENING = SHARED / "corpora" / "screening"

#: Export format -> file name it is written under (as the database names it).
FILE_NAMES = {
    "medline": "pubmed.nbib",
    "pubmed-xml": "pubmed.xml",
    "ris-embase": "embase.ris",
    "ris-scopus": "scopus.ris",
    "wos-tab": "savedrecs.txt",
    "wos-tab-utf16": "savedrecs_utf16.txt",
    "wos-plain": "savedrecs_plain.txt",
    "csv": "records.csv",
    "tsv": "records.tsv",
    "xlsx": "records.xlsx",
}

#: Formats that carry the CSV's labels (RIS as ASReview notes).
CARRY_LABELS = {"ris-embase", "ris-scopus", "csv", "tsv", "xlsx"}


def shared_records(csv_path: str | os.PathLike, limit: int | None = None) -> list[Record]:
    """Records of the first ``limit`` rows of a shared screening CSV (untitled rows left out)."""
    return list(_shared_records(Path(csv_path), limit))


@lru_cache(maxsize=8)
def _shared_records(csv_path: Path, limit: int | None) -> tuple[Record, ...]:
    csv.field_size_limit(2**31 - 1)
    with open(csv_path, encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle)
        records, _ = CsvReader().from_rows(islice(rows, None if limit is None else limit + 1), csv_path.name)
    return tuple(records)


def convert(csv_path: str | os.PathLike, fmt: str, out_dir: str | os.PathLike, *, limit: int | None = None) -> Path:
    """Write the records of ``csv_path`` as format ``fmt`` into ``out_dir``.

    Parameters
    ----------
    csv_path : path
        A shared screening CSV.
    fmt : str
        A key of :data:`FILE_NAMES` (a :data:`ldnscreen.io.FORMATS` name).
    out_dir : path
        Folder to write into (created if missing).
    limit : int, optional
        Only the first ``limit`` records.

    Returns
    -------
    Path
        The file written.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / FILE_NAMES[fmt]
    write_file(shared_records(csv_path, limit), path, format=fmt)
    return path
