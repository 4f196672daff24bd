"""Independent scorer: recompute simulation metrics from ``order.csv`` and the input labels.

This script deliberately does not import ``ldnscreen`` (nor numpy): it
re-implements the asreview-insights definitions in plain Python from the
written screening order and the labels of the original data file, so that a
bug in ``ldnscreen.metrics`` or in the simulation's bookkeeping (a prior
counted as screened, a record screened twice, a missing record) shows up as a
disagreement with ``metrics.json``.

Usage::

    python benchmarks/score_order.py OUT_DIR/order.csv DATA.csv [--label label_included] [--encoding latin-1]
        [--id-column record_id]

DATA is the file given to ``ldnscreen simulate``: a CSV, TSV or XLSX file
(also a ``.txt`` holding comma- or tab-separated columns), read as simulate
reads it: labels from ``label_*`` columns in any case and punctuation
(``Label Included``, ``LabelIncluded``), as 0/1 or words (yes/no,
include/exclude, relevant/irrelevant, true/false...; -1, empty, maybe, n/a...
is no label, and such a record is left out), else from a decision column
(``included``, ``asreview_label``, ``final_decision``, ``decision``,
``label``; with a ``stage`` column as ldnscreen exports it); ids from the
``record_id`` column, or every record's 0-based row number when an id is
missing or repeated; the text encoding from a byte-order mark (UTF-8 or
UTF-16) unless ``--encoding`` names it. A RIS, MEDLINE, PubMed XML or Web of
Science export is not read: convert it first with ``ldnscreen convert
EXPORT labels.csv`` and pass ``labels.csv --id-column source_ids`` (the
export's own ids, which ``order.csv`` names). A simulation given its labels in
a separate file (``ldnscreen simulate EXPORT --labels FILE``) is scored from
that file, with ``--id-column`` naming its column of the export's own ids
(``pmid`` for a MEDLINE export whose decisions are keyed by PMID).

Prints the metrics as JSON; any problem is one line on stderr naming the
file (and row and column), with exit status 1.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import json
import math
import re
import sys
from pathlib import Path


class ScoreError(ValueError):
    """A file cannot be scored; the message is one line naming the file."""


# --- reading labels, as ldnscreen.labels_import reads them --------------------------------------------------

_INCLUDE = {"include", "included", "1", "1.0", "yes", "y", "true", "relevant", "asreview_relevant", "in"}
_EXCLUDE = {"exclude", "excluded", "0", "0.0", "no", "n", "false", "irrelevant", "asreview_irrelevant", "out"}
_UNLABELLED = {"", "-1", "nan", "none", "na", "n/a", "asreview_not_seen", "not seen", "unlabelled", "unlabeled",
               "maybe", "undecided"}
#: Columns read for ``label_included`` when a file has no ``label_*`` column, in order (names compared by
#: their letters and digits in lower case).
_DECISION_COLUMNS = ("included", "asreview_label", "final_decision", "decision", "label")
_JOINED_LABELS = {"labelincluded": "label_included", "labelabstractscreening": "label_abstract_screening"}
_STAGE_NAMES = {"title-abstract": "title-abstract", "title/abstract": "title-abstract",
                "title abstract": "title-abstract", "abstract": "title-abstract", "ta": "title-abstract",
                "full-text": "full-text", "full text": "full-text", "fulltext": "full-text", "ft": "full-text"}


def _letters(name) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name or "").lower())


def _label_name(column) -> str | None:
    """``label_included`` for ``Label Included``, ``label.included`` or ``LabelIncluded``; None for other columns."""
    key = re.sub(r"[^a-z0-9]+", "_", str(column or "").lower()).strip("_")
    return key if key.startswith("label_") else _JOINED_LABELS.get(key)


def parse_label(value) -> int | None:
    """1 (include), 0 (exclude) or None (no label) for a label cell; ValueError for anything else.

    >>> [parse_label(v) for v in ("1", "Yes", "excluded", "TRUE", "1.0", "-1", "", "n/a", "maybe")]
    [1, 1, 0, 1, 1, None, None, None, None]
    """
    text = "" if value is None else str(value).strip().lower()
    if text in _INCLUDE:
        return 1
    if text in _EXCLUDE:
        return 0
    if text in _UNLABELLED:
        return None
    try:  # a number written another way ("1.00", "-1.0"); any other number is no label
        number = float(text)
    except ValueError:
        number = None
    if number in (1.0, 0.0, -1.0):
        return {1.0: 1, 0.0: 0, -1.0: None}[number]
    raise ValueError(f"{value!r} is not a label (include/exclude, 1/0, yes/no, relevant/irrelevant)")


def _stage_labels(verdict: int, row_stage: str) -> dict[str, int]:
    """The labels a decision implies at the stage it was made at (ldnscreen's export: decision + stage)."""
    name = _STAGE_NAMES.get(row_stage.strip().lower())
    if name is None:
        raise ValueError(f"stage {row_stage!r} is not title-abstract or full-text")
    if name == "full-text":  # decided at full text: it passed title-abstract
        return {"label_abstract_screening": 1, "label_included": verdict}
    # decided at title-abstract: an exclusion is final, an inclusion says nothing about full text
    return {"label_abstract_screening": verdict, **({} if verdict else {"label_included": 0})}


def _label_reader(header: list[str], label: str, name: str, strict: bool = True):
    """A function giving a row's (a dict of header -> cell) ``label`` value: 1, 0 or None.

    A value that is not a label raises ValueError naming its column when ``strict``, else is no label (as
    simulate reads a spreadsheet's decision column, or a table through its bibliographic readers).
    """
    wanted = _label_name(label)
    label_columns = [h for h in header if h and _label_name(h)]

    def parse(row, column):
        try:
            return parse_label(row.get(column))
        except ValueError as exc:
            if strict:
                raise ValueError(f"column {column}: {exc}") from None
            return None

    if wanted is None:  # a column named directly (--label included)
        column = next((h for h in header if h and _letters(h) == _letters(label)), None)
        if column is None:
            raise ScoreError(f"{name}: no column {label!r} (columns: {', '.join(h for h in header if h) or 'none'})")
        return lambda row: parse(row, column)
    if label_columns:
        columns = [h for h in label_columns if _label_name(h) == wanted]
        if not columns:
            raise ScoreError(f"{name}: no column for the label {wanted!r} (label columns: {', '.join(label_columns)}); "
                             "pass the label simulated with --label")

        def from_label_columns(row):
            for column in columns:  # (the first column holding a label, of several with the same name)
                value = parse(row, column)
                if value is not None:
                    return value
            return None

        return from_label_columns
    by_key = {_letters(h): h for h in reversed(header) if h}  # (the first of a repeated name)
    decision = next((by_key[key] for key in map(_letters, _DECISION_COLUMNS) if key in by_key), None)
    if decision is None:
        raise ScoreError(f"{name}: no label column: expected a label_* column or one of {', '.join(_DECISION_COLUMNS)} "
                         f"(columns: {', '.join(h for h in header if h) or 'none'})")
    stage = by_key.get("stage")
    if wanted != "label_included" and stage is None:
        raise ScoreError(f"{name}: no column for the label {wanted!r}: the decision column {decision!r} holds "
                         "label_included (a stage column beside it would give label_abstract_screening too)")

    def from_decision(row):
        verdict = parse(row, decision)
        row_stage = "" if stage is None or row.get(stage) is None else str(row.get(stage)).strip()
        if verdict is None or not row_stage:
            return verdict if wanted == "label_included" else None
        try:
            return _stage_labels(verdict, row_stage).get(wanted)
        except ValueError as exc:
            if strict:
                raise ValueError(f"column {stage}: {exc}") from None
            return None

    return from_decision


# --- reading the table, as ldnscreen simulate reads it --------------------------------------------------------

_BIBLIOGRAPHIC = ("RIS", "MEDLINE", "PubMed XML", "Web of Science")


def _convert_first(path: Path, what: str) -> ScoreError:
    return ScoreError(f"{path.name}: a {what} export, which score_order does not read; convert it first with "
                      f"`ldnscreen convert {path} labels.csv` and score against labels.csv --id-column source_ids "
                      "(order.csv names records by the export's own ids)")


def _decode(data: bytes, name: str, encoding: str | None) -> str:
    """The file's text: a byte-order mark chooses UTF-8 or UTF-16 unless ``encoding`` is given, else UTF-8."""
    if encoding is None:
        if data.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding = "utf-16"
        else:
            encoding = "utf-8"
    try:
        if codecs.lookup(encoding).name == "utf-8" and data.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        text = data.decode(encoding)
    except LookupError:
        raise ScoreError(f"{name}: unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ScoreError(f"{name}, line {line}: byte 0x{data[error.start]:02x} is not valid {encoding}; "
                         "pass the file's encoding with --encoding (e.g. latin-1, utf-16-le)") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ScoreError(f"{name}, line {line}: the file contains NUL characters: it is probably UTF-16 without a "
                         "byte-order mark; pass --encoding utf-16-le")
    text = text.lstrip("\ufeff")
    if "\r" in text and "\n" not in text:  # Excel's "CSV (Macintosh)": lines end in \r alone
        text = text.replace("\r", "\n")
    return text


def _lines(text: str):
    """Lines ending at ``\\n`` (kept), as simulate splits them (a lone ``\\r`` inside a line stays in it)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def _xlsx_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    value = str(value).strip()  # (a formula escaped with ' is read back without it)
    return value[1:] if value.startswith("'") and len(value) > 1 and value[1] in "=+-@\t\r" else value


def _xlsx_rows(path: Path, name: str) -> list[list[str]]:
    import zipfile

    from openpyxl import load_workbook  # (as the importers read spreadsheets)

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise ScoreError(f"{name}: not a readable .xlsx workbook ({error})") from None
    try:
        return [[_xlsx_cell(c) for c in row] for row in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()


def _format_of_text(text: str, suffix: str) -> str:
    """The format ldnscreen's readers see in a file simulate sends them (a ``.txt``...), as ``ldnscreen.io`` detects it.

    ``"tsv"`` or ``"csv"`` for columns (tab- or comma-separated), a name of :data:`_BIBLIOGRAPHIC`, or ``"unknown"``.
    """
    stripped = text.lstrip()
    first_line = stripped.split("\n", 1)[0].rstrip("\r")
    columns = set(first_line.split("\t"))
    if stripped.startswith("<") and ("PubmedArticle" in text or "PubmedBookArticle" in text or suffix == ".xml"):
        return "PubMed XML"
    if re.search(r"^PMID-", text, re.M):
        return "MEDLINE"
    if re.match(r"(?:FN |VR |PT [A-Z]\s*$)", stripped, re.M) or (
            {"PT", "TI"} <= columns and ({"UT", "AU", "SO"} & columns)):
        return "Web of Science"
    if re.search(r"^TY  - ", text, re.M):
        return "RIS"
    by_extension = {".ris": "RIS", ".nbib": "MEDLINE", ".xml": "PubMed XML", ".ciw": "Web of Science",
                    ".medline": "MEDLINE"}
    if suffix in by_extension:
        return by_extension[suffix]
    if suffix in (".tsv", ".tab") or (first_line.count("\t") > first_line.count(",") and "\t" in first_line):
        return "tsv"
    if "," in first_line and suffix in ("", ".txt"):
        return "csv"
    return "unknown"


def _table(path: Path, encoding: str | None) -> tuple[list[list[str]], str]:
    """The rows of the input file (the first: the column names) and how simulate reads them.

    ``"table"``: a ``.csv``/``.tsv`` (every non-empty line a record, labels must be labels, ids from
    ``record_id``); ``"xlsx"`` (rows with a cell, a decision that is not one is no label); ``"reader"``:
    any other name, read by ldnscreen's bibliographic readers when it holds a table (rows with a cell,
    a value that is not a label is no label, ids from ``record_id``, ``id``, ``eid`` or ``accession number``).
    """
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ScoreError(f"{path}: cannot read the file ({error.strerror or error})") from None
    suffix = path.suffix.lower()
    if suffix == ".xlsx" or (suffix not in (".csv", ".tsv") and data.startswith(b"PK\x03\x04")):
        rows = [row for row in _xlsx_rows(path, name) if any(row)]
        return rows, "xlsx" if suffix == ".xlsx" else "reader"
    text = _decode(data, name, encoding)
    if suffix in (".csv", ".tsv"):
        mode, kind = "table", suffix[1:]
    else:
        if not text.strip():
            raise ScoreError(f"{name}: the file is empty")
        mode, kind = "reader", _format_of_text(text, suffix)
        if kind in _BIBLIOGRAPHIC:
            raise _convert_first(path, kind)
        if kind == "unknown":
            raise ScoreError(f"{name}: cannot tell the format (not comma- or tab-separated columns); "
                             "score_order reads CSV, TSV and XLSX files")
    first = text.split("\n", 1)[0]
    delimiter = "\t" if kind == "tsv" else ";" if ";" in first and "," not in first else ","
    csv.field_size_limit(2**31 - 1)
    reader = csv.reader(_lines(text), delimiter=delimiter)
    try:
        rows = [row for row in reader if row]  # (an empty line is no row)
    except csv.Error as error:
        raise ScoreError(f"{name}, line {reader.line_num}: not valid {kind.upper()}: {error}") from None
    if mode == "reader":
        rows = [row for row in ([_xlsx_cell(c) for c in row] for row in rows) if any(row)]
    return rows, mode


def read_input_labels(data_path: Path, label: str = "label_included", encoding: str | None = None,
                      id_column: str = "record_id") -> dict[str, int]:
    """Labels of the input file's labelled records, in file order, keyed as ``order.csv`` names them.

    A record's key is its ``record_id`` (``id_column``; matched by letters and digits), or its 0-based row
    number when it has none; when one labelled record's key is another's, every labelled record is
    keyed by its row number (as ``ldnscreen simulate`` names them). Records without the label
    (empty, -1, maybe...) are left out.

    Raises
    ------
    ScoreError
        The file cannot be read, has no label column, or a label that is not one (file, row and column named).
    """
    data_path = Path(data_path)
    name = data_path.name
    rows, mode = _table(data_path, encoding)
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ScoreError(f"{name}: no header row (the column names, e.g. record_id,title,abstract,label_included)")
    header = [str(cell).strip().lstrip("\ufeff") for cell in rows[0]]
    keys = [_letters(h) for h in header]
    id_names = [_letters(id_column)] + (["id", "eid", "accessionnumber"] if mode == "reader" and
                                        _letters(id_column) == "recordid" else [])
    where = next((keys.index(k) for k in id_names if k in keys), None)
    if where is None and _letters(id_column) != "recordid":
        raise ScoreError(f"{name}: no column {id_column!r} (columns: {', '.join(h for h in header if h)})")
    # (a spreadsheet's, or a bibliographic reader's, value that is not a label is no label)
    label_of = _label_reader(header, label, name, strict=mode == "table")
    kept = []
    for row_number, cells in enumerate(rows[1:]):
        try:
            value = label_of(dict(zip(header, cells)))
        except ValueError as exc:
            raise ScoreError(f"{name}: row {row_number + 2}, {exc}") from None  # (the header is row 1)
        if value is None:
            continue
        record_id = cells[where].strip() if where is not None and where < len(cells) else ""
        kept.append((row_number, record_id or str(row_number), value))
    if not kept:
        raise ScoreError(f"{name}: no record has the label {label!r} (the file has {len(rows) - 1} rows)")
    ids = [record_id for _, record_id, _ in kept]
    if len(set(ids)) < len(ids):  # ids that do not identify a record are no ids: row numbers for every record
        ids = [str(row_number) for row_number, _, _ in kept]
    return {record_id: value for record_id, (_, _, value) in zip(ids, kept)}


def read_order(order_path: Path) -> list[dict]:
    """The rows of an ``order.csv`` (position, record_id, label, is_prior)."""
    order_path = Path(order_path)
    try:
        with open(order_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ScoreError(f"{order_path}: cannot read the screening order ({getattr(error, 'strerror', None) or error})"
                         ) from None
    missing = [c for c in ("record_id", "label", "is_prior") if c not in header]
    if not rows or missing:
        raise ScoreError(f"{order_path}: not an order.csv of ldnscreen simulate "
                         + (f"(no column {', '.join(missing)})" if rows else "(no rows)"))
    return rows


# --- the metrics -----------------------------------------------------------------------------------------------

def score(order_rows: list[dict], input_labels: dict[str, int], *, order_name: str = "order.csv",
          data_name: str = "the input") -> dict[str, float]:
    """Metrics of a screening order, priors excluded, checked against the input labels.

    Raises
    ------
    ScoreError
        A record of the order is not in the input, is there twice, has another label than in the
        input, or a prior comes after screened records (the record and both files named); or no
        metric is defined (no relevant or no irrelevant record outside the priors).
    """
    seen = set()
    priors = set()
    screened = []
    for k, row in enumerate(order_rows, start=2):  # (the header is line 1)
        rid = str(row.get("record_id", "")).strip()
        where = f"{order_name}, line {k}: record {rid!r}"
        if rid in seen:
            raise ScoreError(f"{where} is screened twice")
        seen.add(rid)
        if rid not in input_labels:
            raise ScoreError(f"{where} is not a labelled record of {data_name} "
                             "(by record_id, or row number from 0 where ids are missing or repeated)")
        truth = input_labels[rid]
        try:
            given = parse_label(row.get("label"))
        except ValueError:
            given = "?"
        if given != truth:
            raise ScoreError(f"{where}: {order_name} says label {row.get('label')!r}, {data_name} says {truth} "
                             "(was it simulated with another --label, or from another file?)")
        if str(row.get("is_prior", "")).strip() in ("1", "True", "true"):
            if screened:
                raise ScoreError(f"{where} is a prior after screened records")
            priors.add(rid)
        else:
            screened.append(truth)
    rest = [y for rid, y in input_labels.items() if rid not in seen]
    # complete the order pessimistically: unscreened irrelevant records first, relevant last
    y = screened + sorted(rest)
    n = len(y)
    r = sum(y)
    if r == 0 or r == n:
        raise ScoreError(f"{data_name}: {r} of the {n} records outside the priors of {order_name} are relevant: "
                         "the metrics need relevant and irrelevant records")

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
    parser.add_argument("--label", default="label_included", help="the label simulated (ldnscreen simulate --label)")
    parser.add_argument("--encoding", default=None,
                        help="the data file's text encoding (default: from its byte-order mark, else UTF-8)")
    parser.add_argument("--id-column", default="record_id",
                        help="the column order.csv's record_id refers to (source_ids for a converted export)")
    args = parser.parse_args(argv)
    try:
        labels = read_input_labels(args.data, args.label, args.encoding, args.id_column)
        result = score(read_order(args.order), labels, order_name=str(args.order), data_name=str(args.data))
    except ScoreError as exc:
        raise SystemExit(f"score_order: {exc}") from None
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
