"""Export extractions as an abstraction table (.xlsx or .csv), one row per record.

Every value sits next to the sentence it came from so that a reviewer can
check it without reopening the abstract. Cells that a spreadsheet would run
as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return) are written with a leading ``'``; :func:`read_table` removes it.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Sequence

from .extraction import Extraction, Mention

__all__ = [
    "COLUMNS", "escape_cell", "unescape_cell", "table_rows", "write_table", "read_table",
    "records_to_extract", "extract_table",
]

#: Columns of the abstraction table, in order.
COLUMNS = (
    "record_id",
    "title",
    "study_type",
    "sample_size",
    "sample_sizes",
    "sample_size_evidence",
    "doses",
    "dose_evidence",
    "conditions",
    "condition_evidence",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SEPARATOR = "; "
_EVIDENCE_SEPARATOR = " | "


def escape_cell(value: str) -> str:
    """Prefix a cell a spreadsheet would evaluate with ``'``.

    Examples
    --------
    >>> escape_cell("=HYPERLINK(\\"http://x\\")"), escape_cell("-5 mg"), escape_cell("fine")
    ('\\'=HYPERLINK("http://x")', "'-5 mg", 'fine')
    """
    return "'" + value if value.startswith(_FORMULA_START) else value


def unescape_cell(value: str) -> str:
    """Undo :func:`escape_cell`.

    Examples
    --------
    >>> unescape_cell("'=1+1"), unescape_cell("'quoted'")
    ('=1+1', "'quoted'")
    """
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) else value


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item:
            seen.setdefault(item, None)
    return list(seen)


def _evidence(mentions: Sequence[Mention]) -> str:
    return _EVIDENCE_SEPARATOR.join(_unique(m.sentence.strip() for m in mentions))


def table_rows(extractions: Iterable[Extraction]) -> list[dict[str, str]]:
    """The table as a list of ``{column: text}`` (unescaped).

    Examples
    --------
    >>> from ldnscreen.extract import extract_records
    >>> [e] = extract_records([{"record_id": "r1", "title": "LDN", "abstract": "Ten patients took 4.5 mg/day."}],
    ...                       model="rules")
    >>> row = table_rows([e])[0]
    >>> row["sample_size"], row["doses"], row["dose_evidence"]
    ('10', '4.5 mg daily', 'Ten patients took 4.5 mg/day.')
    """
    rows = []
    for e in extractions:
        rows.append({
            "record_id": e.record_id,
            "title": e.title,
            "study_type": e.study_type,
            "sample_size": "" if e.sample_size is None else str(e.sample_size),
            "sample_sizes": _SEPARATOR.join(_unique(m.normalised for m in e.sample_sizes)),
            "sample_size_evidence": _evidence(e.sample_sizes),
            "doses": _SEPARATOR.join(_unique(m.normalised for m in e.doses)),
            "dose_evidence": _evidence(e.doses),
            "conditions": _SEPARATOR.join(_unique(m.normalised for m in e.conditions)),
            "condition_evidence": _evidence(e.conditions),
        })
    return rows


def write_table(extractions: Iterable[Extraction], path: str | Path) -> Path:
    """Write the abstraction table to ``path`` (``.xlsx`` with openpyxl, otherwise CSV).

    Parameters
    ----------
    extractions : iterable of Extraction
    path : str or Path
        ``*.xlsx`` for a workbook, anything else (``*.csv``) for UTF-8 CSV.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    rows = table_rows(extractions)
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        workbook = Workbook()
        sheet = workbook.active
        sheet.title = "extraction"
        sheet.append(list(COLUMNS))
        for row in rows:
            sheet.append([escape_cell(row[c]) for c in COLUMNS])
            for cell in sheet[sheet.max_row]:
                cell.data_type = "s"  # never a formula, whatever the text
        sheet.freeze_panes = "A2"
        workbook.save(path)
    else:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({c: escape_cell(row[c]) for c in COLUMNS})
    return path


def read_table(path: str | Path) -> list[dict[str, str]]:
    """Read a table written by :func:`write_table` back into :func:`table_rows` form."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        sheet = load_workbook(path, read_only=True).active
        values = list(sheet.iter_rows(values_only=True))
        header = [str(h) for h in values[0]]
        raw = [{h: "" if v is None else str(v) for h, v in zip(header, row)} for row in values[1:]]
    else:
        with open(path, newline="", encoding="utf-8") as handle:
            raw = list(csv.DictReader(handle))
    return [{k: unescape_cell(v) for k, v in row.items()} for row in raw]


def records_to_extract(source: str | Path, *, included_only: bool = False) -> list:
    """The records of a review (``NAME`` or ``NAME.ldnscreen``) or of an export file.

    Parameters
    ----------
    source : str or Path
        A review store, or any file :func:`ldnscreen.io.read_file` reads.
    included_only : bool, default=False
        For a review, keep the records whose latest full-text decision is
        ``"include"``, or the title-abstract includes when no full-text
        decision exists yet. For a file, keep records labelled
        ``label_included == 1`` (or ``label_abstract_screening == 1`` when the
        file has no final label).

    Returns
    -------
    list of Record
    """
    from ldnscreen.store import SUFFIX, ReviewStore, review_path

    path = Path(source)
    is_review = path.suffix == SUFFIX or (not path.exists() and review_path(path).exists())
    if not is_review and path.is_file():
        with open(path, "rb") as handle:
            is_review = handle.read(16) == b"SQLite format 3\x00"
    if is_review:
        with ReviewStore.open(path, readonly=True) as store:
            records = store.records()
            if not included_only:
                return records
            for stage in ("full-text", "title-abstract"):
                included = {rid for rid, d in store.current_labels(stage).items() if d.label == "include"}
                if included:
                    return [r for r in records if r.id in included]
            return []
    from ldnscreen.io import read_file

    records = read_file(path).records
    if not included_only:
        return records
    key = "label_included" if any("label_included" in r.labels for r in records) else "label_abstract_screening"
    return [r for r in records if r.labels.get(key) == 1]


def extract_table(
    source: str | Path,
    out: str | Path,
    *,
    included_only: bool = False,
    model: str | Path | None = None,
    n_jobs: int | None = None,
) -> int:
    """Extract from a review or export file and write the abstraction table.

    This is what ``ldnscreen extract`` runs.

    Parameters
    ----------
    source : str or Path
        Review or export file, see :func:`records_to_extract`.
    out : str or Path
        ``.xlsx`` or ``.csv`` table.
    included_only : bool, default=False
        See :func:`records_to_extract`.
    model : str or Path or None
        Pipeline directory (default: the shipped ``models/ldnscreen_extract``).
    n_jobs : int or None
        joblib workers, see :func:`ldnscreen.extract.extract_records`.

    Returns
    -------
    int
        Rows written.
    """
    from .extraction import extract_records

    records = records_to_extract(source, included_only=included_only)
    extractions = extract_records(records, model=model, n_jobs=n_jobs)
    write_table(extractions, out)
    return len(extractions)
