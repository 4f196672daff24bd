"""Spreadsheets: CSV, TSV and XLSX, read and written.

Columns are recognised by common names whatever their case or punctuation
(``title``/``Title``/``TI``/``primary_title``, ``abstract``/``AB``/
``notes_abstract``, ``PubMed ID``/``pubmedID``/``pmid``...). Label columns
(``label_included``, ``Label Included``, ``label_abstract_screening``...), or
else a decision column (``included``, ``Final Decision``, ``asreview_label``,
``decision``, ``label``), become :attr:`Record.labels`, found as
``ldnscreen simulate`` finds them (:func:`ldnscreen.labels_import.label_columns`);
a ``record_id`` column becomes the provenance's ``source_id``.

Writers put one record per row with its decision (label, reason, stage,
reviewer, note). A cell that starts with ``=``, ``+``, ``-`` or ``@`` would be
run as a formula by spreadsheet programs ("CSV injection"); it is written
with a leading ``'`` (and as a string cell in XLSX), which the reader removes
again.

Examples
--------
>>> [r] = loads("Title,Abstract,Year,PubMed ID,included\\nLDN in CRPS,Case report.,2016.0,123,1\\n")
>>> r.title, r.year, r.pmid, r.labels
('LDN in CRPS', 2016, '123', {'label_included': 1})
>>> escape_formula("=HYPERLINK(\\"http://x\\")")
'\\'=HYPERLINK("http://x")'
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any, ClassVar, Iterable, Iterator, Mapping, Sequence

from ..records import Provenance, Record, normalise_doi
from .base import (
    BadRecord,
    PathOrFile,
    Reader,
    ReadError,
    decision_fields,
    iter_lines,
    parse_year,
    split_list,
    unescape_entities,
    write_target,
)

__all__ = [
    "CsvReader",
    "TsvReader",
    "XlsxReader",
    "CsvWriter",
    "TsvWriter",
    "XlsxWriter",
    "escape_formula",
    "unescape_formula",
    "load",
    "loads",
    "dump",
    "dumps",
]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: str) -> str:
    """``value`` with a leading ``'`` if a spreadsheet would run it as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def unescape_formula(value: str) -> str:
    """Undo :func:`escape_formula`.

    Examples
    --------
    >>> unescape_formula("'=1+1"), unescape_formula("'quoted'")
    ('=1+1', "'quoted'")
    """
    return value[1:] if value.startswith("'") and len(value) > 1 and value[1] in _FORMULA_START else value


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name or "").lower())


#: Field -> accepted column names (compared lower-case without punctuation).
COLUMNS: dict[str, tuple[str, ...]] = {
    "title": ("title", "ti", "primarytitle", "articletitle", "documenttitle", "t1"),
    "abstract": ("abstract", "ab", "notesabstract", "n2", "abstractnote"),
    "authors": ("authorfullnames", "authors", "author", "au", "firstauthors"),
    "year": ("year", "py", "publicationyear", "pubyear", "y1"),
    "journal": ("journal", "so", "secondarytitle", "sourcetitle", "journalname", "publicationtitle", "t2"),
    "doi": ("doi", "di", "do"),
    "pmid": ("pmid", "pubmedid", "pubmed"),
    "keywords": ("keywords", "keyword", "kw", "de", "authorkeywords", "indexkeywords", "meshterms"),
    "language": ("language", "la", "languageoforiginaldocument"),
    "publication_types": ("publicationtypes", "publicationtype", "documenttype", "dt"),
    "record_id": ("recordid", "id", "eid", "accessionnumber"),
}

#: A column that marks the export of a known database (Scopus CSV has ``EID``).
DATABASE_COLUMNS: dict[str, str] = {"eid": "scopus"}

_AUTHOR_ID = re.compile(r"\s*\(\d+\)$")  # Scopus "Younger, Jarred (57200000001)"


def _is_initials(word: str) -> bool:
    letters = word.replace(".", "").replace("-", "")
    return 1 <= len(letters) <= 4 and letters.isalpha() and letters.isupper()


def _is_family_initials(name: str) -> bool:
    # "Younger J.", "van der Berg A.B.": a family name (not itself initials-like) then initials
    words = name.split()
    return len(words) >= 2 and not _is_initials(words[0]) and _is_initials(words[-1])


def split_authors(cell: str) -> tuple[str, ...]:
    """The authors in one cell, without Scopus author ids.

    Authors are separated by semicolons; a cell without any is split on commas
    only when every part is one "Family Initials" name, as older Scopus CSV and
    Covidence write them, so that ``"Younger, Jarred"`` stays one author.

    Examples
    --------
    >>> split_authors("Younger J., Noor N., van der Berg A.B.")
    ('Younger J.', 'Noor N.', 'van der Berg A.B.')
    >>> split_authors("Younger, Jarred (57200000001); Noor, N"), split_authors("Younger, J")
    (('Younger, Jarred', 'Noor, N'), ('Younger, J',))
    """
    if ";" not in cell and "," in cell:
        names = tuple(_AUTHOR_ID.sub("", name) for name in split_list(cell, ","))
        if len(names) > 1 and all(_is_family_initials(name) for name in names):
            return names
    return tuple(_AUTHOR_ID.sub("", name) for name in split_list(cell))


def find_columns(keys: Sequence[str]) -> dict[str, list[int]]:
    """Where each field of :data:`COLUMNS` is in a header whose names went through ``_key``: the
    positions of its columns, the preferred name first; fields without a column are left out.

    Examples
    --------
    >>> find_columns([_key(name) for name in ("ID", "TI", "Author Keywords", "Abstract", "Keywords")])
    {'title': [1], 'abstract': [3], 'keywords': [4, 2], 'record_id': [0]}
    """
    found = {field: [keys.index(name) for name in names if name in keys] for field, names in COLUMNS.items()}
    return {field: positions for field, positions in found.items() if positions}


class TabularReader(Reader):
    """Turns rows of cells (first row: column names) into records."""

    DATABASE = "csv"

    def from_rows(
        self, rows: Iterable[Sequence[Any]], file: str, lines: Iterable[int] | None = None,
        delimiter: str | None = None,
    ) -> tuple[list[Record], list[BadRecord]]:
        """Records from ``rows`` (the first holds column names).

        ``lines`` gives the line each row starts on (rows of a CSV may span
        lines); by default row *n* is line *n*. With the ``delimiter`` of a
        text file, a row with filled cells beyond the header's columns is a bad
        record: an unquoted delimiter inside a cell shifted every cell after it.
        """
        rows = iter(rows)
        numbers = iter(lines) if lines is not None else None
        try:
            header = [str(c or "").strip().lstrip("\ufeff") for c in next(rows)]
        except StopIteration:
            raise ReadError(file, "", "the file is empty") from None
        keys = [_key(h) for h in header]
        gathered = find_columns(keys)
        where = {field: positions[0] for field, positions in gathered.items()}
        for column, database in DATABASE_COLUMNS.items():
            if column in keys:
                self.DATABASE = database  # type: ignore[misc]
        if "title" not in where:
            raise ReadError(
                file,
                "line 1",
                f"no title column (expected one of title, Title, TI, primary_title); columns found: "
                f"{', '.join(h for h in header if h) or 'none'}",
            )
        from ..labels_import import label_columns, row_labels

        # label_* columns, else a decision column (and stage) as ldnscreen's and ASReview's exports have
        label_cells = label_columns(header)
        if not label_cells[0] and label_cells[1] is None:
            label_cells = None
        records: list[Record] = []
        bad: list[BadRecord] = []
        for number, row in enumerate(rows, start=2):
            if numbers is not None:
                number = next(numbers)
            cells = [_cell(c) for c in row]
            if not any(cells):
                continue
            if delimiter is not None and len(cells) > len(header) and any(cells[len(header):]):
                name = {",": "comma", ";": "semicolon", "\t": "tab"}.get(delimiter, repr(delimiter))
                bad.append(BadRecord(f"line {number}", f"record {len(records) + len(bad) + 1} has {len(cells)} "
                                     f"cells, the header {len(header)}: a {name} inside a cell that is not quoted?"))
                continue

            def get(field: str) -> str:
                i = where.get(field)
                return cells[i] if i is not None and i < len(cells) else ""

            title = unescape_entities(get("title"))
            if not title and not self.keep_untitled:
                bad.append(BadRecord(f"line {number}", f"record {len(records) + len(bad) + 1} has no title"))
                continue
            keywords = [k for i in gathered.get("keywords", []) if i < len(cells)
                        for k in split_list(unescape_entities(cells[i]))]  # (decoded first: "&alpha;" holds a ";")
            # (a value that is not a label, e.g. Rayyan's "conflict": no label; a bibliographic import does not stop)
            record_labels = {} if label_cells is None else row_labels(dict(zip(header, cells)), label_cells, strict=False)
            pmid = get("pmid")
            if pmid.endswith(".0"):
                pmid = pmid[:-2]
            records.append(
                Record(
                    title=title,
                    abstract=unescape_entities(get("abstract")),
                    authors=split_authors(unescape_entities(get("authors"))),
                    year=parse_year(get("year")),
                    journal=unescape_entities(get("journal")),
                    doi=normalise_doi(get("doi")),
                    pmid=pmid,
                    keywords=tuple(dict.fromkeys(keywords)),
                    language=get("language"),
                    publication_types=split_list(get("publication_types")),
                    provenance=(Provenance(self.DATABASE, file, len(records) + len(bad), get("record_id")),),
                    labels=record_labels,
                )
            )
        return records, bad


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unescape_formula(str(value).strip())


def old_mac_line_ends(text: str) -> str:
    r"""``text`` with ``\r`` line ends as ``\n`` when it has no ``\n`` at all (Excel's "CSV (Macintosh)").

    Examples
    --------
    >>> old_mac_line_ends("title,label\r\"a\",1\r"), old_mac_line_ends("a\r\nb\r\n")
    ('title,label\n"a",1\n', 'a\r\nb\r\n')
    """
    return text.replace("\r", "\n") if "\r" in text and "\n" not in text else text


def csv_delimiter(text: str) -> str:
    """The delimiter of a "CSV" file, from its header line: ``,`` when it has a comma, else a tab when
    it has tabs (a tab-delimited export saved as .csv), else ``;`` when it has semicolons (Excel's
    CSV where the decimal mark is a comma), else ``,``.

    Examples
    --------
    >>> csv_delimiter("title;abstract;label_included\\nA;B;1\\n"), csv_delimiter("title,abstract\\n")
    (';', ',')
    >>> csv_delimiter("Title\\tAbstract\\tYear\\nLDN in CRPS\\tAbs, with comma\\t2020\\n")
    '\\t'
    """
    first = text[: text.find("\n")] if "\n" in text else text
    if "," in first:
        return ","
    return "\t" if "\t" in first else ";" if ";" in first else ","


def ends_in_open_quote(row: str, delimiter: str = ",") -> bool:
    """Whether the text of a CSV row ends inside a quoted field, as a truncated file's last row does.

    A field is quoted only when it starts with ``"``; a ``"`` inside an unquoted
    field (``5" bandage``) is a literal character, as Excel and :mod:`csv` read it.

    Examples
    --------
    >>> ends_in_open_quote('A,"cut off\\n'), ends_in_open_quote('A 5" bandage,x\\n'), ends_in_open_quote('"a ""b"" c",d')
    (True, False, False)
    """
    quoted, field_start, i = False, True, 0
    while i < len(row):
        if quoted:
            end = row.find('"', i)
            if end < 0:
                return True
            if row.startswith('""', end):  # an escaped quote
                i = end + 2
                continue
            quoted, i = False, end + 1
            continue
        if field_start and row[i] == '"':
            quoted = True
        field_start = row[i] in (delimiter, "\n", "\r")
        i += 1
    return quoted


class CsvReader(TabularReader):
    """Comma-separated values with a header row (semicolon-separated when the header says so)."""

    FORMAT = "csv"
    DATABASE = "csv"
    DELIMITER: ClassVar[str] = ","

    def parse(self, text: str, file: str = "<string>") -> tuple[list[Record], list[BadRecord]]:
        csv.field_size_limit(2**31 - 1)
        text = old_mac_line_ends(text)
        delimiter = csv_delimiter(text) if self.DELIMITER == "," else self.DELIMITER
        row_lines: list[str] = []  # the lines the row being read spans

        def source() -> Iterator[str]:
            for line in iter_lines(text, keepends=True):
                row_lines.append(line)
                yield line

        reader = csv.reader(source(), delimiter=delimiter)
        starts: list[int] = []
        truncated: list[int] = []

        def rows() -> Iterable[list[str]]:
            # one row behind the reader, so that the last row can be held back when it is cut off
            pending: list[str] | None = None
            pending_lines: list[str] = []
            while True:
                starts.append(reader.line_num + 1)
                row_lines.clear()
                try:
                    row = next(reader)
                except StopIteration:
                    break
                if pending is not None:
                    yield pending
                pending, pending_lines = row, row_lines[:]
            if pending is None:
                return
            if ends_in_open_quote("".join(pending_lines), delimiter):
                if len(starts) == 2:
                    raise ReadError(file, "line 1", "the header row has a quoted field that is never closed: "
                                    "the file looks truncated")
                truncated.append(starts[-2])
            else:
                yield pending

        def lines() -> Iterable[int]:  # start line of each data row, known once the row is read
            index = 1
            while True:
                yield starts[index]
                index += 1

        try:
            records, bad = self.from_rows(rows(), file, lines=lines(), delimiter=delimiter)
        except csv.Error as error:
            raise ReadError(file, f"line {reader.line_num}", f"not valid {self.FORMAT.upper()}: {error}") from None
        if truncated:
            bad.append(BadRecord(f"line {truncated[0]}", f"record {len(records) + len(bad) + 1} has a quoted field "
                                 "that is never closed: the file looks truncated"))
        return records, bad


class TsvReader(CsvReader):
    """Tab-separated values with a header row."""

    FORMAT = "tsv"
    DATABASE = "tsv"
    DELIMITER = "\t"


def xlsx_rows(data: bytes, file: str) -> Iterator[tuple]:
    """The cell values of the first worksheet of an Excel workbook, row by row (openpyxl, read-only).

    A file that is not a workbook raises :class:`ReadError` at the first row.
    """
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise ReadError(file, "", f"not a readable .xlsx workbook ({error})") from None
    try:
        yield from book.worksheets[0].iter_rows(values_only=True)
    finally:
        book.close()


class XlsxReader(TabularReader):
    """First worksheet of an Excel workbook, read with openpyxl in read-only mode."""

    FORMAT = "xlsx"
    DATABASE = "xlsx"
    BINARY = True

    def read_bytes(self, data: bytes, file: str, encoding: str | None = None) -> tuple[list[Record], list[BadRecord]]:
        return self.from_rows(xlsx_rows(data, file), file)

    def parse(self, text: str, file: str = "<string>") -> tuple[list[Record], list[BadRecord]]:
        raise ReadError(file, "", "an .xlsx workbook must be read from bytes, not text")


#: Columns written by :class:`CsvWriter`, in order; label columns follow ``source_ids``.
WRITE_COLUMNS = (
    "record_id", "title", "abstract", "authors", "year", "journal", "doi", "pmid", "keywords",
    "language", "publication_types", "databases", "source_ids",
)
DECISION_COLUMNS = ("decision", "reason", "stage", "reviewer", "note", "decided_at")


class CsvWriter:
    """Writes records (and decisions) as CSV that :class:`CsvReader` reads back."""

    DELIMITER: ClassVar[str] = ","

    def rows(self, records: Sequence[Record], decisions: Mapping | None) -> Iterable[list[str]]:
        label_names = sorted({name for r in records for name in r.labels})
        yield [*WRITE_COLUMNS, *label_names, *DECISION_COLUMNS]
        decisions = decisions or {}
        for r in records:
            fields = decision_fields(decisions.get(r.id))
            row = [
                r.id, r.title, r.abstract, "; ".join(r.authors), str(r.year or ""), r.journal, r.doi,
                r.pmid, "; ".join(r.keywords), r.language, "; ".join(r.publication_types),
                "; ".join(r.databases), "; ".join(p.source_id for p in r.provenance if p.source_id),
                *(str(r.labels[n]) if n in r.labels else "" for n in label_names),
                fields["label"], fields["reason"], fields["stage"], fields["reviewer"], fields["note"],
                fields["decided_at"],
            ]
            yield [escape_formula(str(c)) for c in row]

    def formats(self, records: Iterable[Record], decisions: Mapping | None = None) -> str:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=self.DELIMITER, lineterminator="\r\n")
        writer.writerows(self.rows(list(records), decisions))
        return out.getvalue()


class TsvWriter(CsvWriter):
    """Tab-separated variant of :class:`CsvWriter`."""

    DELIMITER = "\t"


class XlsxWriter(CsvWriter):
    """Writes an Excel workbook with every cell a string (no formulas)."""

    def write(self, records: Iterable[Record], path_or_file: PathOrFile, decisions: Mapping | None = None) -> None:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        book = Workbook(write_only=True)
        sheet = book.create_sheet("records")
        for row in self.rows(list(records), decisions):
            cells = []
            for value in row:
                cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
                cell.data_type = "s"
                cells.append(cell)
            sheet.append(cells)
        book.save(path_or_file)


def load(
    path_or_file: PathOrFile,
    *,
    encoding: str | None = None,
    skip_bad: bool = False,
    implementation: type[TabularReader] = CsvReader,
) -> list[Record]:
    """Records of a CSV (or, with ``implementation``, TSV / XLSX) file."""
    return implementation().load(path_or_file, encoding=encoding, skip_bad=skip_bad)


def loads(text: str, *, skip_bad: bool = False, implementation: type[TabularReader] = CsvReader) -> list[Record]:
    """Records of CSV (or TSV) text."""
    return implementation().loads(text, skip_bad=skip_bad)


def dumps(
    records: Iterable[Record], *, decisions: Mapping | None = None, implementation: type[CsvWriter] = CsvWriter
) -> str:
    """CSV (or TSV) text of ``records`` and their ``decisions`` (record id -> decision)."""
    return implementation().formats(records, decisions)


def dump(
    records: Iterable[Record],
    path_or_file: PathOrFile,
    *,
    decisions: Mapping | None = None,
    implementation: type[CsvWriter] = CsvWriter,
) -> None:
    """Write ``records`` (and ``decisions``) as CSV or TSV (UTF-8 with BOM) or XLSX."""
    if issubclass(implementation, XlsxWriter):
        implementation().write(records, path_or_file, decisions)
    else:
        text = dumps(records, decisions=decisions, implementation=implementation)
        write_target(path_or_file, text, encoding="utf-8-sig")  # the BOM makes Excel read UTF-8
