"""Import screening decisions made elsewhere into a review.

A colleague screened in a spreadsheet, or a first pass was done in another
tool (ASReview, Rayyan, Covidence exports): :func:`import_decisions` reads
that table and adds its decisions to the review's decision log.

Rows are matched to the review's active records by, in this order:

1. the ldnscreen record id (``record_id`` or ``id`` column holding an ``r...``
   id): definitive;
2. otherwise every identifier the row has among the ``record_id``/``id``
   column as the source file's own id, the DOI, the PMID and the normalised
   title. Each gives the set of records it points to; the sets that are not
   empty are intersected. One record left: matched. Several, or none because
   two identifiers point to different records: ambiguous. No identifier
   found anywhere: unmatched.

Ambiguous and unmatched rows are reported and not applied; so are two rows
that give one record different decisions. A label value that is not a
decision stops the import with :class:`LabelImportError` naming the file and
the row (spreadsheet numbering: the header is row 1). Everything else is
written in ONE transaction: all the decisions or none.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .records import Record, normalise_doi, normalise_title

__all__ = [
    "LabelImportError",
    "LabelImportReport",
    "parse_decision",
    "label_columns",
    "label_name",
    "row_labels",
    "DECISION_COLUMNS",
    "read_decision_table",
    "import_decisions",
    "attach_labels",
    "AttachedLabels",
]

#: Label columns tried, in order, when none is named; per stage.
LABEL_COLUMNS = {
    "title-abstract": ("decision", "label", "included", "label_abstract_screening", "label_included",
                       "asreview_label"),
    "full-text": ("decision", "label", "included", "label_included", "asreview_label"),
}
ID_COLUMNS = ("record_id", "id", "ldnscreen_id", "source_id")
DOI_COLUMNS = ("doi",)
PMID_COLUMNS = ("pmid", "pubmed_id")
TITLE_COLUMNS = ("title", "primary_title", "ti")
REASON_COLUMNS = ("reason", "exclusion_reason", "exclude_reason")
NOTE_COLUMNS = ("note", "notes", "comment", "comments")
REVIEWER_COLUMNS = ("reviewer", "screener")
STAGE_COLUMNS = ("stage", "screening_stage")
_STAGE_NAMES = {"title-abstract": "title-abstract", "title/abstract": "title-abstract", "title abstract": "title-abstract",
                "abstract": "title-abstract", "ta": "title-abstract", "full-text": "full-text", "full text": "full-text",
                "fulltext": "full-text", "ft": "full-text"}

_INCLUDE = {"include", "included", "1", "1.0", "yes", "y", "true", "relevant", "asreview_relevant", "in"}
_EXCLUDE = {"exclude", "excluded", "0", "0.0", "no", "n", "false", "irrelevant", "asreview_irrelevant", "out"}
_UNLABELLED = {"", "-1", "nan", "none", "na", "n/a", "asreview_not_seen", "not seen", "unlabelled", "unlabeled",
               "maybe", "undecided"}


class LabelImportError(ValueError):
    """The decision file cannot be imported; nothing was written."""


@dataclass(frozen=True)
class LabelImportReport:
    """What an import of decisions found and did.

    Row numbers follow spreadsheet numbering (the header is row 1).

    Parameters
    ----------
    file : str
        The file read.
    stage : str
        The stage the decisions were recorded at.
    label_column : str
        The column the decisions were read from.
    rows : int
        Data rows in the file.
    unlabelled : tuple of int
        Rows without a decision (empty, ``-1``, ``ASReview_not_seen``...).
    other_stage : tuple of int
        Rows whose own ``stage`` column puts them at a stage that says
        nothing about this one (a title-abstract exclusion, for full-text).
    matched : int
        Labelled rows matched to exactly one record.
    unmatched : tuple of int
        Labelled rows matching no record.
    ambiguous : tuple of (int, tuple of str)
        Labelled rows matching several records (or identifiers pointing to
        different records), with the candidate record ids.
    conflicting : tuple of (str, tuple of int)
        Records that several rows gave different decisions, with those rows.
    unchanged : int
        Matched records whose current decision was already the imported one.
    decisions : tuple of Decision
        The decisions written (empty for a dry run).
    matched_by : dict of str to int
        How many rows each identifier matched.
    dry_run : bool
        Nothing was written.
    unknown_reasons : tuple of str
        Exclusion reasons imported that the review's criteria do not list for
        this stage (kept as given; worth a look).
    """

    file: str
    stage: str
    label_column: str
    rows: int
    unlabelled: tuple[int, ...]
    other_stage: tuple[int, ...]
    matched: int
    unmatched: tuple[int, ...]
    ambiguous: tuple[tuple[int, tuple[str, ...]], ...]
    conflicting: tuple[tuple[str, tuple[int, ...]], ...]
    unchanged: int
    decisions: tuple[Any, ...] = ()
    matched_by: dict[str, int] = field(default_factory=dict, hash=False, compare=False)
    planned: tuple[tuple[str, str], ...] = ()
    dry_run: bool = False
    unknown_reasons: tuple[str, ...] = ()

    @property
    def included(self) -> int:
        """Decisions written (or planned) that include."""
        return sum(label == "include" for _, label in self.planned)

    @property
    def excluded(self) -> int:
        """Decisions written (or planned) that exclude."""
        return sum(label == "exclude" for _, label in self.planned)

    def summary(self) -> str:
        """A few lines for the terminal."""
        verb = "would add" if self.dry_run else "added"
        lines = [
            f"{self.file}: {self.rows} rows, label column {self.label_column!r}, stage {self.stage}",
            f"  matched {self.matched} ({', '.join(f'{k} {v}' for k, v in self.matched_by.items()) or '-'}), "
            f"unmatched {len(self.unmatched)}, ambiguous {len(self.ambiguous)}, "
            f"conflicting {len(self.conflicting)}, without a decision {len(self.unlabelled)}"
            + (f", decided at another stage {len(self.other_stage)}" if self.other_stage else ""),
            f"  {verb} {len(self.planned)} decisions ({self.included} include, {self.excluded} exclude); "
            f"{self.unchanged} already decided the same way",
        ]
        if self.unmatched:
            lines.append("  unmatched rows: " + _row_list(self.unmatched))
        if self.ambiguous:
            lines.append("  ambiguous rows: " + _row_list(r for r, _ in self.ambiguous))
        if self.unknown_reasons:
            lines.append("  reasons not in the criteria: " + "; ".join(self.unknown_reasons))
        if self.conflicting:
            lines.append("  conflicting rows: " + "; ".join(
                f"{rid}: rows {', '.join(map(str, rows))}" for rid, rows in self.conflicting[:10]))
        return "\n".join(lines)


def _row_list(rows: Iterable[int], limit: int = 20) -> str:
    rows = list(rows)
    text = ", ".join(map(str, rows[:limit]))
    return text + (f" ... ({len(rows)} in all)" if len(rows) > limit else "")


def parse_decision(value: Any) -> str | None:
    """``"include"``, ``"exclude"`` or ``None`` (no decision) for a label cell.

    Raises
    ------
    ValueError
        When the value is not a decision.

    Examples
    --------
    >>> [parse_decision(v) for v in ("1", "yes", "ASReview_relevant", "Excluded", 0, "", None)]
    ['include', 'include', 'include', 'exclude', 'exclude', None, None]
    >>> parse_decision("1.00"), parse_decision(-1), parse_decision(1)
    ('include', None, 'include')
    >>> parse_decision("2")
    Traceback (most recent call last):
    ...
    ValueError: '2' is not a decision (include/exclude, 1/0, yes/no, relevant/irrelevant)
    >>> parse_decision("perhaps")
    Traceback (most recent call last):
    ...
    ValueError: 'perhaps' is not a decision (include/exclude, 1/0, yes/no, relevant/irrelevant)
    """
    text = "" if value is None else str(value).strip().lower()
    if text in _INCLUDE:
        return "include"
    if text in _EXCLUDE:
        return "exclude"
    if text in _UNLABELLED:
        return None
    try:  # a number written another way ("1.00", "-1.0"); any other number is not a decision
        number = float(text)
    except ValueError:
        number = None
    if number in (1.0, 0.0, -1.0):
        return {1.0: "include", 0.0: "exclude", -1.0: None}[number]
    raise ValueError(f"{value!r} is not a decision (include/exclude, 1/0, yes/no, relevant/irrelevant)")


def _header_key(name: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(name or "").strip().lower())


def read_decision_table(path: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV, TSV or XLSX file, headers normalised.

    Headers are lower-cased with spaces and hyphens turned into underscores
    (``"Label Included"`` -> ``label_included``). Cells are strings.

    Raises
    ------
    LabelImportError
        When the file cannot be read or has no header.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            rows = _read_xlsx(path)
        elif (bibliographic := _read_bibliographic(path)) is not None:
            rows = bibliographic
        else:
            rows = _read_delimited(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LabelImportError(f"{path}: cannot read the decision file ({exc})") from None
    if not rows or not any(h.strip() for h in rows[0]):
        raise LabelImportError(f"{path}: the decision file has no header row")
    header = [_header_key(h) for h in rows[0]]
    table = []
    for cells in rows[1:]:
        cells = list(cells) + [""] * (len(header) - len(cells))
        table.append({h: (c or "").strip() for h, c in zip(header, cells) if h})
    return header, table


def _read_bibliographic(path: Path) -> list[list[str]] | None:
    """A bibliographic export with decisions (ASReview's or ldnscreen's RIS) as a table, else ``None``.

    One row per record: its id, title, DOI and PMID to match it by, and its labels.
    """
    from .io import ReadError, detect_format, read_file

    try:
        detected = detect_format(path)
    except ReadError:  # no export format found (decisions.txt with semicolons, a .dat): a delimited table
        return None
    if detected in ("csv", "tsv", "xlsx"):
        return None
    try:
        records = read_file(path, format=detected).records  # (not detected a second time)
    except ReadError as exc:
        raise LabelImportError(str(exc)) from None
    names = sorted({name for record in records for name in record.labels})
    rows = [["record_id", "title", "doi", "pmid", *names]]
    rows += [[r.id, r.title, r.doi, r.pmid, *(str(r.labels.get(n, "")) for n in names)] for r in records]
    return rows


def _read_delimited(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("utf-8-sig")
    first = text.split("\n", 1)[0]
    if path.suffix.lower() in (".tsv", ".tab"):
        delimiter = "\t"
    else:
        delimiter = max(",;\t", key=first.count)
    return [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if row]


def _read_xlsx(path: Path) -> list[list[str]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        return [
            ["" if v is None else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)) for v in row]
            for row in sheet.iter_rows(values_only=True)
            if row is not None and any(v is not None for v in row)
        ]
    finally:
        workbook.close()


def _at_stage(label: str | None, row_stage: str, stage: str) -> str | None:
    """The row's decision as seen at ``stage`` when the row names its own stage.

    A record decided at full-text was included at title-abstract; a decision
    at title-abstract says nothing about full-text (``"other stage"``).

    Examples
    --------
    >>> _at_stage("exclude", "full-text", "title-abstract"), _at_stage("exclude", "full-text", "full-text")
    ('include', 'exclude')
    >>> _at_stage("exclude", "title-abstract", "full-text")
    'other stage'

    """
    if label is None or not row_stage.strip():
        return label
    name = _STAGE_NAMES.get(row_stage.strip().lower())
    if name is None:
        raise ValueError(f"stage {row_stage!r} is not title-abstract or full-text")
    if name == stage:
        return label
    if stage == "title-abstract":  # decided at full-text, so it passed title-abstract
        return "include"
    return "other stage"  # decided at title-abstract: says nothing about full-text


#: Decision columns read when a file has no ``label_*`` column (ldnscreen's and ASReview's exports), in
#: order; a header's names are compared by their letters and digits in lower case (``Final Decision``,
#: ``final.decision``).
DECISION_COLUMNS = ("included", "asreview_label", "final_decision", "decision", "label")

#: Label columns under names that do not separate their words (``LabelIncluded``): the label they hold.
_JOINED_LABELS = {"labelincluded": "label_included", "labelabstractscreening": "label_abstract_screening"}


def _text(value: Any) -> str:
    """A cell as stripped text (a spreadsheet's number 0 is "0", not empty)."""
    return "" if value is None else str(value).strip()


def label_name(column: Any) -> str | None:
    """The label a column holds (``label_included`` for ``Label Included``, ``label.included`` or
    ``LabelIncluded``), or ``None`` for a column that is no ``label_*`` column.

    Examples
    --------
    >>> label_name("Label Included"), label_name("LABEL-abstract-screening"), label_name("LabelIncluded")
    ('label_included', 'label_abstract_screening', 'label_included')
    >>> label_name("label_reviewer 2"), label_name("label"), label_name("labels")
    ('label_reviewer_2', None, None)
    """
    key = re.sub(r"[^a-z0-9]+", "_", str(column or "").lower()).strip("_")
    if key.startswith("label_"):
        return key
    return _JOINED_LABELS.get(key)


def label_columns(header: Sequence[str]) -> tuple[list[str], str | None, str | None]:
    """The ``label_*`` columns of a table's header, else a decision column (and a ``stage`` column beside it).

    This is how both ``ldnscreen import`` and ``ldnscreen simulate`` find a
    file's labels. Names are compared in any case and punctuation: a
    ``label_*`` column by :func:`label_name`, a decision column
    (:data:`DECISION_COLUMNS`) and ``stage`` by their letters and digits. Of a
    repeated name the first column is taken.

    Examples
    --------
    >>> label_columns(["title", "label_included"]), label_columns(["Title", "Final Decision", "Stage"])
    ((['label_included'], None, None), ([], 'Final Decision', 'Stage'))
    >>> label_columns(["TI", "Label Included", "Label.Abstract.Screening"])[0], label_columns(["final.decision"])[1]
    (['Label Included', 'Label.Abstract.Screening'], 'final.decision')
    """
    from .io.tabular import _key  # (how the readers compare column names: letters and digits, lower case)

    labels = [name for name in header if name and label_name(name)]
    if labels:
        return labels, None, None
    by_key = {_key(name): name for name in reversed(header) if name}  # (the first of a repeated name)
    decision = next((by_key[key] for key in map(_key, DECISION_COLUMNS) if key in by_key), None)
    return [], decision, by_key.get("stage") if decision else None


def row_labels(
    row: Mapping[str, Any], columns: tuple[Sequence[str], str | None, str | None], strict: bool = True
) -> dict[str, int]:
    """A row's labels (``columns`` from :func:`label_columns`): its ``label_*`` values, or those its decision implies.

    A value that is not a label raises ``ValueError``, or with ``strict=False``
    gives no label (as a bibliographic import reads an unknown decision such as
    Rayyan's "conflict").

    A decision is a final inclusion label (``label_included``). With a
    ``stage`` (ldnscreen's export: the full-text decision where there is one,
    else the title-abstract one), a full-text decision also means the record
    passed title-abstract, and a title-abstract exclusion means it was not
    included; a title-abstract inclusion says nothing about the final label.

    Examples
    --------
    >>> row_labels({"decision": "exclude", "stage": "title-abstract"}, ([], "decision", "stage"))
    {'label_abstract_screening': 0, 'label_included': 0}
    >>> row_labels({"decision": "include", "stage": "title-abstract"}, ([], "decision", "stage"))
    {'label_abstract_screening': 1}
    >>> row_labels({"included": "1"}, ([], "included", None)), row_labels({"label_included": "yes"}, (["label_included"], None, None))
    ({'label_included': 1}, {'label_included': 1})
    """
    label_names, decision, stage = columns
    if label_names:
        labels: dict[str, int] = {}
        for name in label_names:  # (-1, ASReview's "not labelled", or an empty cell: no label)
            try:
                verdict = parse_decision(_text(row.get(name)))  # a value that is not a label raises
            except ValueError:
                if strict:
                    raise
                continue
            if verdict is not None:
                labels.setdefault(label_name(name), int(verdict == "include"))
        return labels
    if decision is None:
        return {}
    try:
        return _decision_labels(row, decision, stage)
    except ValueError:  # (a decision or a stage that is not one)
        if strict:
            raise
        return {}


def _decision_labels(row: Mapping[str, Any], decision: str, stage: str | None) -> dict[str, int]:
    """The labels a row's decision (and stage) imply, for :func:`row_labels`."""
    verdict = parse_decision(row.get(decision))
    if verdict is None:
        return {}
    row_stage = _text(row.get(stage)) if stage is not None else ""
    if not row_stage:
        return {"label_included": int(verdict == "include")}
    labels = {"label_abstract_screening": int(_at_stage(verdict, row_stage, "title-abstract") == "include")}
    final = _at_stage(verdict, row_stage, "full-text")
    if final == "other stage":  # decided at title-abstract: excluded there, or not yet decided at full text
        final = "exclude" if verdict == "exclude" else None
    if final is not None:
        labels["label_included"] = int(final == "include")
    return labels


def _first(header: Sequence[str], names: Sequence[str]) -> str | None:
    return next((n for n in names if n in header), None)


def _match_columns(header: Sequence[str], path: Path) -> dict[str, str | None]:
    """The columns a decision table's rows are matched to records by (:meth:`_RecordIndex.match`)."""
    columns = {
        "id": _first(header, ID_COLUMNS),
        "doi": _first(header, DOI_COLUMNS),
        "pmid": _first(header, PMID_COLUMNS),
        "title": _first(header, TITLE_COLUMNS),
    }
    if not any(columns.values()):
        raise LabelImportError(
            f"{path}: no column to match records by; expected one of "
            f"{', '.join(ID_COLUMNS + DOI_COLUMNS + PMID_COLUMNS + TITLE_COLUMNS)}"
        )
    return columns


class _RecordIndex:
    """Where each identifier points among the active records."""

    def __init__(self, records: Sequence[Record]) -> None:
        self.ids = {r.id for r in records}
        self.source: dict[str, set[str]] = {}
        self.doi: dict[str, set[str]] = {}
        self.pmid: dict[str, set[str]] = {}
        self.title: dict[str, set[str]] = {}
        for r in records:
            for p in r.provenance:
                if p.source_id:
                    self.source.setdefault(p.source_id.strip(), set()).add(r.id)
            if r.doi:
                self.doi.setdefault(normalise_doi(r.doi), set()).add(r.id)
            if r.pmid:
                self.pmid.setdefault(r.pmid.strip(), set()).add(r.id)
            if r.title and normalise_title(r.title):
                self.title.setdefault(normalise_title(r.title), set()).add(r.id)

    def match(self, row: Mapping[str, str], columns: Mapping[str, str | None]) -> tuple[str, set[str]]:
        """``(how, candidates)``: the identifier that decided and the records left."""
        rid = row.get(columns["id"] or "", "")
        if rid in self.ids:
            return "record id", {rid}
        found: list[tuple[str, set[str]]] = []
        if rid and rid in self.source:
            found.append(("source id", self.source[rid]))
        doi = normalise_doi(row.get(columns["doi"] or "", ""))
        if doi and doi in self.doi:
            found.append(("doi", self.doi[doi]))
        pmid = row.get(columns["pmid"] or "", "").strip()
        if pmid and pmid in self.pmid:
            found.append(("pmid", self.pmid[pmid]))
        title = normalise_title(row.get(columns["title"] or "", ""))
        if title and title in self.title:
            found.append(("title", self.title[title]))
        if not found:
            return "", set()
        candidates = set.intersection(*(set(c) for _, c in found))
        if not candidates:  # identifiers disagree: every record any of them named
            return "", set().union(*(c for _, c in found))
        return found[0][0], candidates


def _criteria_reasons(store: Any, stage: str) -> set[str] | None:
    text = store.criteria_text
    if not text:
        return None
    from .criteria import Criteria

    return set(Criteria.loads(text).reasons(stage))


def _last(hits: Sequence[tuple[int, Mapping[str, str], str]], key: str | None) -> str | None:
    """Last non-empty value of ``key`` among agreeing rows (a record exported by two databases)."""
    values = [row.get(key, "") for _, row, _ in hits if key and row.get(key, "")]
    return values[-1] if values else None


def import_decisions(
    store: Any,
    path: str | Path,
    *,
    stage: str = "title-abstract",
    reviewer: str | None = None,
    label_column: str | None = None,
    dry_run: bool = False,
) -> LabelImportReport:
    """Add the decisions of a CSV/TSV/XLSX file to a review, all in one transaction.

    Parameters
    ----------
    store : ReviewStore
        The open review store.
    path : str or Path
        The decision file.
    stage : {"title-abstract", "full-text"}, default="title-abstract"
        Stage the decisions belong to.
    reviewer : str or None
        Reviewer recorded for rows without a ``reviewer`` column value.
    label_column : str or None
        Column holding the decisions; by default the first of ``decision``,
        ``label``, ``included``, ``label_abstract_screening`` (title-abstract
        stage only), ``label_included``, ``asreview_label``.
    dry_run : bool, default=False
        Match and report, write nothing.

    Returns
    -------
    LabelImportReport

    Raises
    ------
    LabelImportError
        When the file cannot be read, has no label column, no identifier
        column, or a label value that is not a decision (naming the row).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from ldnscreen.store import ReviewStore
    >>> from ldnscreen.records import Record
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> store = ReviewStore.create(tmp / "review")
    >>> records = [Record(title="LDN for fibromyalgia", doi="10.1/a"), Record(title="Aspirin in rats")]
    >>> _ = store.add_records(records, file_name="x", sha256="0" * 64)
    >>> _ = (tmp / "colleague.csv").write_text("title,doi,included\\n,10.1/A,yes\\nAspirin in rats.,,no\\n")
    >>> report = import_decisions(store, tmp / "colleague.csv", reviewer="ab")
    >>> report.matched, report.included, report.excluded
    (2, 1, 1)
    >>> sorted(d.label for d in store.current_labels().values())
    ['exclude', 'include']
    >>> store.close()
    """
    from .store import STAGES

    if stage not in STAGES:
        raise LabelImportError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
    path = Path(path)
    header, rows = read_decision_table(path)
    if label_column is not None:
        label_key = _header_key(label_column)
        if label_key not in header:
            raise LabelImportError(f"{path}: no column {label_column!r} (columns: {', '.join(header)})")
    else:
        # the first of the label columns that holds a label (ldnscreen's export has an empty
        # decision column beside the records' imported label_included)
        present = [name for name in LABEL_COLUMNS[stage] if name in header]
        label_key = next((name for name in present if any(row.get(name) for row in rows)), _first(header, present))
        if label_key is None:
            raise LabelImportError(
                f"{path}: no label column; expected one of {', '.join(LABEL_COLUMNS[stage])} "
                f"(columns: {', '.join(header)}); name it with --column"
            )
    columns = _match_columns(header, path)
    reason_key = _first(header, REASON_COLUMNS)
    note_key = _first(header, NOTE_COLUMNS)
    reviewer_key = _first(header, REVIEWER_COLUMNS)

    stage_key = _first(header, STAGE_COLUMNS)

    # 1. parse every label first: one bad value and nothing is written
    labelled: list[tuple[int, dict[str, str], str]] = []
    unlabelled: list[int] = []
    other_stage: list[int] = []
    for number, row in enumerate(rows, start=2):
        try:
            label = parse_decision(row.get(label_key, ""))
            if label is not None and stage_key:
                label = _at_stage(label, row.get(stage_key, ""), stage)
        except ValueError as exc:
            column = stage_key if "stage" in str(exc) else label_key
            raise LabelImportError(f"{path}: row {number}, column {column!r}: {exc}; nothing was imported") from None
        if label is None:
            unlabelled.append(number)
        elif label == "other stage":
            other_stage.append(number)
        else:
            labelled.append((number, row, label))

    # 2. match rows to records
    index = _RecordIndex(store.records(active_only=True))
    unmatched: list[int] = []
    ambiguous: list[tuple[int, tuple[str, ...]]] = []
    matched_by: dict[str, int] = {}
    per_record: dict[str, list[tuple[int, dict[str, str], str]]] = {}
    for number, row, label in labelled:
        how, candidates = index.match(row, columns)
        if not candidates:
            unmatched.append(number)
        elif len(candidates) > 1 or not how:
            ambiguous.append((number, tuple(sorted(candidates))))
        else:
            matched_by[how] = matched_by.get(how, 0) + 1
            per_record.setdefault(next(iter(candidates)), []).append((number, row, label))

    # 3. one decision per record; disagreeing rows are reported, not applied
    current = store.current_labels(stage)
    conflicting: list[tuple[str, tuple[int, ...]]] = []
    planned: list[dict[str, Any]] = []
    unchanged = 0
    for record_id, hits in per_record.items():
        if len({label for _, _, label in hits}) > 1:
            conflicting.append((record_id, tuple(n for n, _, _ in hits)))
            continue
        label = hits[0][2]
        reason = _last(hits, reason_key) if label == "exclude" else None
        existing = current.get(record_id)
        if existing is not None and existing.label == label and (reason is None or existing.reason == reason):
            unchanged += 1
            continue
        planned.append({
            "record_id": record_id,
            "label": label,
            "stage": stage,
            "reason": reason,
            "reviewer": _last(hits, reviewer_key) or reviewer,
            "note": _last(hits, note_key),
        })

    known = _criteria_reasons(store, stage)
    unknown = sorted({d["reason"] for d in planned if d["reason"] and known is not None and d["reason"] not in known})

    # 4. one transaction
    written = () if dry_run or not planned else tuple(store.decide_many(planned))
    return LabelImportReport(
        file=str(path),
        stage=stage,
        label_column=label_key,
        rows=len(rows),
        unlabelled=tuple(unlabelled),
        other_stage=tuple(other_stage),
        matched=sum(matched_by.values()),
        unmatched=tuple(unmatched),
        ambiguous=tuple(ambiguous),
        conflicting=tuple(conflicting),
        unchanged=unchanged,
        decisions=written,
        matched_by=matched_by,
        planned=tuple((d["record_id"], d["label"]) for d in planned),
        dry_run=dry_run,
        unknown_reasons=tuple(unknown),
    )


@dataclass(frozen=True)
class AttachedLabels:
    """Records given the labels of a separate file by :func:`attach_labels`, and how its rows matched."""

    records: tuple[Record, ...]
    file: str
    rows: int
    matched: int
    unlabelled: tuple[int, ...] = ()
    unmatched: tuple[int, ...] = ()
    ambiguous: tuple[int, ...] = ()
    conflicting: tuple[int, ...] = ()

    def summary(self) -> str:
        """One line: how many rows gave labels, and what was not used."""
        parts = [f"{self.matched} of {self.rows} rows of {self.file} labelled a record"]
        for name, numbers in (("without a label", self.unlabelled), ("matched no record", self.unmatched),
                              ("matched several records", self.ambiguous),
                              ("disagreed with another row on the same record", self.conflicting)):
            if numbers:
                shown = ", ".join(map(str, numbers[:5])) + (", ..." if len(numbers) > 5 else "")
                parts.append(f"{len(numbers)} {name} (rows {shown})")
        return "; ".join(parts)


def attach_labels(records: Sequence[Record], path: str | Path) -> AttachedLabels:
    """Give ``records`` the labels of a separate CSV, TSV or XLSX file: for exports that carry none.

    MEDLINE, PubMed XML and Web of Science exports have no place for a label,
    so a review's decisions live beside them, in a spreadsheet. Its labels are
    read as a labelled data file's are (:func:`label_columns`: ``label_*``
    columns, else a decision column and its ``stage``), and each labelled row
    is matched to a record as :func:`import_decisions` matches rows: by the
    ldnscreen record id, else by every identifier it has among the file's own
    id (``record_id``, ``id``, ``source_id``), DOI, PMID and normalised title,
    which must agree on one record. Rows that match no record or several, and
    rows that give one record different labels, are counted and not applied.
    A label already in a record is kept where the file has none for it.

    Raises
    ------
    LabelImportError
        The file cannot be read, has no label or identifier column, or a label
        value that is not one (the row and column named).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (tmp / "labels.csv").write_text("PMID,Included\\n111,yes\\n222,no\\n999,yes\\n")
    >>> recs = [Record(title="LDN for fibromyalgia", pmid="111"), Record(title="Aspirin in rats", pmid="222")]
    >>> attached = attach_labels(recs, tmp / "labels.csv")
    >>> [r.labels for r in attached.records], attached.unmatched
    ([{'label_included': 1}, {'label_included': 0}], (4,))
    """
    path = Path(path)
    header, table = read_decision_table(path)
    columns = label_columns(header)
    if not columns[0] and columns[1] is None:
        raise LabelImportError(f"{path}: no label column; expected label_* columns or one of "
                               f"{', '.join(DECISION_COLUMNS)} (columns: {', '.join(h for h in header if h)})")
    match_columns = _match_columns(header, path)
    index = _RecordIndex(records)
    found: dict[str, list[tuple[int, dict[str, int]]]] = {}
    unlabelled, unmatched, ambiguous = [], [], []
    for number, row in enumerate(table, start=2):  # (row 1 is the header)
        try:
            labels = row_labels(row, columns)
        except ValueError as exc:
            raise LabelImportError(f"{path}: row {number}, column {_failed_column(row, columns, exc)}: {exc}") from None
        if not labels:
            unlabelled.append(number)
            continue
        how, candidates = index.match(row, match_columns)
        if not candidates:
            unmatched.append(number)
        elif len(candidates) > 1 or not how:
            ambiguous.append(number)
        else:
            found.setdefault(next(iter(candidates)), []).append((number, labels))
    given: dict[str, dict[str, int]] = {}
    conflicting = []
    for record_id, hits in found.items():
        merged: dict[str, int] = {}
        for number, labels in hits:
            if any(merged.get(name, value) != value for name, value in labels.items()):
                conflicting.extend(n for n, _ in hits)
                break
            merged.update(labels)
        else:
            given[record_id] = merged
    labelled = tuple(replace(r, labels={**r.labels, **given[r.id]}) if r.id in given else r for r in records)
    return AttachedLabels(labelled, path.name, len(table), sum(len(found[r]) for r in given),
                          tuple(unlabelled), tuple(unmatched), tuple(ambiguous), tuple(sorted(set(conflicting))))


def _failed_column(row: Mapping[str, Any], columns: tuple[Sequence[str], str | None, str | None], exc: Exception) -> str:
    """The column whose value :func:`row_labels` could not read (``exc`` its error)."""
    if str(exc).startswith("stage ") and columns[2]:
        return columns[2]
    for name in columns[0]:
        try:
            parse_decision(_text(row.get(name)))
        except ValueError:
            return name
    return columns[1] or ""
