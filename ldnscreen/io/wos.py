"""Web of Science exports: tab-delimited ``savedrecs.txt`` and plain text.

Web of Science's "Export > Tab delimited file" writes a header row of
two-letter field tags (``PT AU BA BE GP AF ... TI SO ... AB ... DI ... PY ... UT
PM ...``) and one tab-separated row per record, in UTF-8 with a byte-order
mark or, from the Windows option, UTF-16 LE with a byte-order mark; both
exist in the wild. "Plain text file" writes ``FN``/``VR`` header lines, then
each record as two-letter tags, values continued on lines indented by three
spaces (one author per line), ``ER`` after each record and ``EF`` at the end;
it is parsed by :class:`rispy.WokParser`.

Examples
--------
>>> text = "PT\\tAU\\tAF\\tTI\\tSO\\tPY\\tDI\\tUT\\n" \\
...        "J\\tYounger, J\\tYounger, Jarred\\tLDN for fibromyalgia\\tARTHRITIS RHEUM\\t2013\\t10.1/X\\tWOS:1\\n"
>>> [r] = loads(text)
>>> r.authors, r.year, r.doi, r.provenance[0].source_id
(('Younger, Jarred',), 2013, '10.1/x', 'WOS:1')
"""

from __future__ import annotations

import textwrap
from typing import ClassVar, Iterable, Mapping

import rispy

from ..records import Provenance, Record, normalise_doi
from .base import BadRecord, PathOrFile, Reader, ReadError, iter_lines, parse_tagged_records, parse_year, split_list, write_target

__all__ = [
    "WosTabReader",
    "WosPlainReader",
    "AutoWosReader",
    "WosTabWriter",
    "WosTabUtf16Writer",
    "WosPlainWriter",
    "load",
    "loads",
    "dump",
    "dumps",
]

#: Column order of Web of Science's tab-delimited export (full record).
TAB_COLUMNS = (
    "PT AU BA BE GP AF BF CA TI SO SE BS LA DT CT CY CL SP HO DE ID AB C1 RP EM RI OI FU FX CR NR "
    "TC Z9 U1 U2 PU PI PA SN EI BN J9 JI PD PY VL IS PN SU SI MA BP EP AR DI D2 EA PG WC SC GA UT "
    "PM OA HC HP DA"
).split()


class _TagsAsKeys(dict):
    def __missing__(self, tag: str) -> str:
        return tag


def _items(value: object) -> list[str]:
    """Values of a field: lists as they are, strings split on ``;``."""
    if not value:
        return []
    if isinstance(value, list):
        return [" ".join(v.split()) for v in value if v and v.strip()]
    return list(split_list(str(value)))


def _one(value: object) -> str:
    if isinstance(value, list):
        value = " ".join(value)
    return " ".join(str(value or "").split())


class WosReader(Reader):
    """Shared conversion of Web of Science fields (by tag) to a record."""

    DATABASE = "wos"

    def to_record(self, fields: Mapping[str, object], file: str, position: int) -> Record:
        title = _one(fields.get("TI"))
        if not title and not self.keep_untitled:
            raise ValueError("has no title (TI) field")
        source_id = _one(fields.get("UT"))
        pmid = _one(fields.get("PM"))
        return Record(
            title=title,
            abstract=_one(fields.get("AB")),
            authors=tuple(_items(fields.get("AF")) or _items(fields.get("AU")) or _items(fields.get("CA"))),
            year=parse_year(_one(fields.get("PY"))) or parse_year(_one(fields.get("EA"))),
            journal=_one(fields.get("SO")),
            doi=normalise_doi(_one(fields.get("DI"))),
            pmid=pmid,
            keywords=tuple(dict.fromkeys(_items(fields.get("DE")) + _items(fields.get("ID")))),
            language=_one(fields.get("LA")),
            publication_types=tuple(_items(fields.get("DT"))),
            provenance=(Provenance(self.DATABASE, file, position, source_id or pmid),),
        )


class WosTabReader(WosReader):
    """Reader for the tab-delimited export (any encoding with a byte-order mark)."""

    FORMAT = "wos-tab"

    def parse(self, text: str, file: str = "<string>") -> tuple[list[Record], list[BadRecord]]:
        lines = iter_lines(text)
        header = [h.strip() for h in next(lines, "").lstrip("\ufeff").split("\t")]
        if "TI" not in header or not {"PT", "UT", "AU"} & set(header):
            raise ReadError(
                file, "line 1", f"not a Web of Science tab-delimited header (found {' '.join(header[:8])} ...)"
            )
        records: list[Record] = []
        bad: list[BadRecord] = []
        for number, line in enumerate(lines, start=2):
            if not line.strip():
                continue
            cells = line.split("\t")
            extra = len(cells) > len(header) and any(c.strip() for c in cells[len(header):])
            if extra or len(cells) < len(header) - 1:
                truncated = " (truncated?)" if not extra else ""
                bad.append(BadRecord(f"line {number}", f"record {len(records) + len(bad) + 1} has "
                                     f"{len(cells)} columns, the header {len(header)}{truncated}"))
                continue
            try:
                records.append(self.to_record(dict(zip(header, cells)), file, len(records) + len(bad)))
            except ValueError as error:
                bad.append(BadRecord(f"line {number}", f"record {len(records) + len(bad) + 1} {error}"))
        return records, bad


class WosPlainReader(WosReader):
    """Reader for the plain-text tagged export, using :class:`rispy.WokParser`."""

    FORMAT = "wos-plain"
    LIST_TAGS: ClassVar[list[str]] = ["AU", "AF", "BA", "BF", "CA", "GP", "BE", "CR", "C1", "RI", "OI"]

    def __init__(self) -> None:
        self._parser = rispy.WokParser(mapping=_TagsAsKeys(), list_tags=self.LIST_TAGS, enforce_list_tags=False)

    def parse(self, text: str, file: str = "<string>") -> tuple[list[Record], list[BadRecord]]:
        def build(lines: list[str], position: int) -> Record:
            [fields] = self._parser.parse_lines(iter(lines))
            return self.to_record(fields, file, position)

        return parse_tagged_records(
            text, file, build,
            is_start=lambda line: line.startswith("PT "),
            is_end=lambda line: line.rstrip() == "ER",
            # EF ends the file; it is often missing and records are complete without it
            skip=lambda line: line.rstrip() == "EF",
            start_tag="PT ", format_name="Web of Science", errors=(ValueError, KeyError),
        )


class WosTabWriter:
    """Writes the tab-delimited export; subclasses choose the encoding."""

    ENCODING: ClassVar[str] = "utf-8-sig"
    NEWLINE: ClassVar[str] = "\n"

    def row(self, record: Record) -> dict[str, str]:
        ut = next((p.source_id for p in record.provenance if p.source_id.startswith("WOS:")), "")
        return {
            "PT": "J",
            "AU": "; ".join(record.authors),
            "AF": "; ".join(record.authors),
            "TI": record.title,
            "SO": record.journal,
            "LA": record.language,
            "DT": "; ".join(record.publication_types) or "Article",
            "DE": "; ".join(record.keywords),
            "AB": record.abstract,
            "PY": str(record.year or ""),
            "DI": record.doi,
            "UT": ut,
            "PM": record.pmid,
        }

    def formats(self, records: Iterable[Record]) -> str:
        lines = ["\t".join(TAB_COLUMNS)]
        for record in records:
            row = self.row(record)
            lines.append("\t".join(" ".join(row.get(c, "").split()) for c in TAB_COLUMNS))
        return self.NEWLINE.join(lines) + self.NEWLINE


class WosTabUtf16Writer(WosTabWriter):
    """The tab-delimited export as "Windows" UTF-16 LE with a byte-order mark."""

    ENCODING = "utf-16"
    NEWLINE = "\r\n"


class WosPlainWriter:
    """Writes the plain-text tagged export."""

    ENCODING: ClassVar[str] = "utf-8-sig"
    WIDTH: ClassVar[int] = 70

    def record_lines(self, record: Record) -> list[str]:
        lines = ["PT J"]

        def many(tag: str, values: Iterable[str]) -> None:
            for i, value in enumerate(values):
                lines.append(f"{tag if i == 0 else '  '} {' '.join(value.split())}")

        def one(tag: str, value: str, wrap: bool = False) -> None:
            value = " ".join(str(value or "").split())
            if not value:
                return
            parts = textwrap.wrap(value, self.WIDTH, break_long_words=False, break_on_hyphens=False) if wrap else [value]
            many(tag, parts)

        many("AU", record.authors)
        many("AF", record.authors)
        one("TI", record.title, wrap=True)
        one("SO", record.journal)
        one("LA", record.language)
        one("DT", "; ".join(record.publication_types) or "Article")
        one("DE", "; ".join(record.keywords), wrap=True)
        one("AB", record.abstract)
        one("PY", str(record.year or ""))
        one("DI", record.doi)
        one("PM", record.pmid)
        one("UT", next((p.source_id for p in record.provenance if p.source_id.startswith("WOS:")), ""))
        lines.append("ER")
        return lines

    def formats(self, records: Iterable[Record]) -> str:
        lines = ["FN Clarivate Analytics Web of Science", "VR 1.0"]
        for record in records:
            lines.extend(self.record_lines(record))
            lines.append("")
        lines.append("EF")
        return "\n".join(lines) + "\n"


def _reader_for(text: str) -> WosReader:
    head = text.lstrip("\ufeff")[:200]
    return WosPlainReader() if head.startswith(("FN ", "VR ", "PT ")) else WosTabReader()


def load(
    path_or_file: PathOrFile,
    *,
    encoding: str | None = None,
    skip_bad: bool = False,
    implementation: type[WosReader] | None = None,
) -> list[Record]:
    """Records of a Web of Science export (tab-delimited or plain text, sniffed)."""
    if implementation is not None:
        return implementation().load(path_or_file, encoding=encoding, skip_bad=skip_bad)
    return AutoWosReader().load(path_or_file, encoding=encoding, skip_bad=skip_bad)


def loads(text: str, *, skip_bad: bool = False, implementation: type[WosReader] | None = None) -> list[Record]:
    """Records of Web of Science export text (tab-delimited or plain text, sniffed)."""
    reader = implementation() if implementation else _reader_for(text)
    return reader.loads(text, skip_bad=skip_bad)


class AutoWosReader(WosReader):
    """Reads either Web of Science export, recognised from the text."""

    def parse(self, text: str, file: str = "<string>") -> tuple[list[Record], list[BadRecord]]:
        reader = _reader_for(text)
        reader.keep_untitled = self.keep_untitled
        return reader.parse(text, file)


def dumps(records: Iterable[Record], *, implementation: type = WosTabWriter) -> str:
    """Export text of ``records`` (tab-delimited unless ``implementation`` says plain)."""
    return implementation().formats(records)


def dump(
    records: Iterable[Record],
    path_or_file: PathOrFile,
    *,
    decisions: Mapping | None = None,
    implementation: type = WosTabWriter,
) -> None:
    """Write ``records`` in the writer's encoding (``decisions`` are not part of the format)."""
    if decisions:
        raise ValueError("Web of Science exports cannot carry screening decisions; write csv, xlsx or ris")
    writer = implementation()
    write_target(path_or_file, writer.formats(records), encoding=writer.ENCODING)
