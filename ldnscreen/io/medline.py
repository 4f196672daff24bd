"""PubMed MEDLINE text (``.nbib``, ``.txt``): read and write.

PubMed's "Save > Format: PubMed" and "Send to > Citation manager" write one
field per line as a tag of up to four characters, padded, then ``"- "``;
long values continue on lines indented by six spaces; repeated tags (``AU``,
``FAU``, ``MH``, ``PT``, ``OT``, ``AID``) carry one value each; records are
separated by blank lines and start with ``PMID-``.

Examples
--------
>>> text = '''PMID- 100
... TI  - Low-dose naltrexone for
...       fibromyalgia.
... FAU - Younger, Jarred
... AU  - Younger J
... DP  - 2013 Apr
... AID - 10.1000/XYZ [doi]
... '''
>>> [r] = loads(text)
>>> r.title, r.authors, r.year, r.doi, r.pmid
('Low-dose naltrexone for fibromyalgia.', ('Younger, Jarred',), 2013, '10.1000/xyz', '100')
"""

from __future__ import annotations

import re
import textwrap
from typing import ClassVar, Iterable, Mapping

from ..records import Provenance, Record, normalise_doi
from .base import BadRecord, PathOrFile, Reader, ReadError, iter_lines, parse_year, write_target

__all__ = ["MedlineReader", "MedlineWriter", "load", "loads", "dump", "dumps"]

_TAG_LINE = re.compile(r"^([A-Z][A-Z0-9]{0,3}) {0,3}- ?(.*)$")


class MedlineReader(Reader):
    """Reader for PubMed MEDLINE text.

    Attributes
    ----------
    TITLE_TAGS : tuple of str
        Tags holding the title, first found wins (``BTI`` for books).
    """

    FORMAT = "medline"
    DATABASE = "pubmed"
    TITLE_TAGS: ClassVar[tuple[str, ...]] = ("TI", "BTI")
    KEYWORD_TAGS: ClassVar[tuple[str, ...]] = ("MH", "OT")
    JOURNAL_TAGS: ClassVar[tuple[str, ...]] = ("JT", "TA")

    def parse(self, text: str, file: str = "<string>") -> tuple[list[Record], list[BadRecord]]:
        records: list[Record] = []
        bad: list[BadRecord] = []
        fields: list[tuple[str, list[str]]] = []  # tag and its lines, joined when the record ends
        start = 0
        seen_tag = False

        def finish() -> None:
            if fields:
                number = len(records) + len(bad) + 1
                try:
                    joined = [(tag, " ".join(parts)) for tag, parts in fields]
                    records.append(self.to_record(joined, file, number - 1))
                except ValueError as error:
                    bad.append(BadRecord(f"line {start}", f"record {number} {error}"))

        for number, line in enumerate(iter_lines(text.lstrip("\ufeff")), start=1):
            if not line.strip():
                finish()
                fields = []
                continue
            if line.startswith("      ") or line.startswith("\t"):
                if not fields:
                    raise ReadError(file, f"line {number}", "continuation line outside a record: not MEDLINE text")
                fields[-1][1].append(line.strip())
                continue
            match = _TAG_LINE.match(line)
            if not match:
                raise ReadError(
                    file,
                    f"line {number}",
                    f"expected a MEDLINE field like 'TI  - ...', found {line[:40]!r}",
                )
            if not fields:
                start = number
            seen_tag = True
            fields.append((match.group(1), [match.group(2).strip()]))
        finish()
        if not seen_tag:
            raise ReadError(file, "", "no MEDLINE records found")
        return records, bad

    def to_record(self, fields: list[tuple[str, str]], file: str, position: int) -> Record:
        """Build one record from its ``(tag, value)`` pairs; ValueError if unusable."""
        tags: dict[str, list[str]] = {}
        for tag, value in fields:
            tags.setdefault(tag, []).append(value)

        def first(*names: str) -> str:
            for name in names:
                if tags.get(name):
                    return tags[name][0]
            return ""

        title = first(*self.TITLE_TAGS)
        if not title and not self.keep_untitled:
            raise ValueError(f"has no title ({'/'.join(self.TITLE_TAGS)}) field")
        doi = ""
        for value in tags.get("AID", []) + tags.get("LID", []):
            if value.endswith("[doi]"):
                doi = value[: -len("[doi]")].strip()
                break
        names = ("FAU", "CN") if "FAU" in tags else ("AU", "CN")  # CN: collective author, in its place
        authors = [value for tag, value in fields if tag in names]
        pmid = first("PMID")
        return Record(
            title=title,
            abstract=first("AB"),
            authors=tuple(authors),
            year=parse_year(first("DP", "DEP", "EDAT")),
            journal=first(*self.JOURNAL_TAGS),
            doi=normalise_doi(doi),
            pmid=pmid,
            keywords=tuple(v.replace("*", "") for name in self.KEYWORD_TAGS for v in tags.get(name, [])),
            language=first("LA"),
            publication_types=tuple(tags.get("PT", [])),
            provenance=(Provenance(self.DATABASE, file, position, pmid),),
        )


class MedlineWriter:
    """Writes records as PubMed MEDLINE text, wrapped at ``WIDTH`` columns."""

    WIDTH: ClassVar[int] = 82

    def line(self, tag: str, value: str) -> str:
        prefix = f"{tag:<4}- "
        value = " ".join(str(value).split())
        if not value:
            return prefix.rstrip()
        if len(prefix) + len(value) <= self.WIDTH:
            return prefix + value
        wrapped = textwrap.wrap(value, self.WIDTH - 6, break_long_words=False, break_on_hyphens=False)
        return prefix + wrapped[0] + "".join("\n      " + part for part in wrapped[1:])

    def format_record(self, record: Record) -> str:
        lines = []
        lines.append(self.line("PMID", record.pmid))  # kept (empty) when unknown: records start with PMID
        lines.append(self.line("OWN", "NLM"))
        lines.append(self.line("STAT", "MEDLINE"))
        if record.year:
            lines.append(self.line("DP", str(record.year)))
        lines.append(self.line("TI", record.title))
        if record.doi:
            lines.append(self.line("LID", f"{record.doi} [doi]"))
        if record.abstract:
            lines.append(self.line("AB", record.abstract))
        for author in record.authors:
            lines.append(self.line("FAU", author))
            lines.append(self.line("AU", _short_author(author)))
        if record.language:
            lines.append(self.line("LA", record.language))
        for kind in record.publication_types:
            lines.append(self.line("PT", kind))
        if record.journal:
            lines.append(self.line("JT", record.journal))
        for keyword in record.keywords:
            lines.append(self.line("OT", keyword))
        if record.doi:
            lines.append(self.line("AID", f"{record.doi} [doi]"))
        return "\n".join(lines)

    def formats(self, records: Iterable[Record]) -> str:
        return "\n\n".join(self.format_record(r) for r in records) + "\n"


def _short_author(author: str) -> str:
    """``"Younger, Jarred W"`` -> ``"Younger JW"``, as PubMed's AU tag."""
    if "," not in author:
        return author
    family, given = (part.strip() for part in author.split(",", 1))
    initials = "".join(word[0] for word in re.split(r"[\s.\-]+", given) if word)
    return f"{family} {initials}".strip()


def load(
    path_or_file: PathOrFile,
    *,
    encoding: str | None = None,
    skip_bad: bool = False,
    implementation: type[MedlineReader] = MedlineReader,
) -> list[Record]:
    """Records of a MEDLINE file (path or open file); see :func:`loads`."""
    return implementation().load(path_or_file, encoding=encoding, skip_bad=skip_bad)


def loads(text: str, *, skip_bad: bool = False, implementation: type[MedlineReader] = MedlineReader) -> list[Record]:
    """Records of MEDLINE text; :class:`ReadError` on a bad record unless ``skip_bad``."""
    return implementation().loads(text, skip_bad=skip_bad)


def dumps(records: Iterable[Record], *, implementation: type[MedlineWriter] = MedlineWriter) -> str:
    """MEDLINE text of ``records``."""
    return implementation().formats(records)


def dump(
    records: Iterable[Record],
    path_or_file: PathOrFile,
    *,
    decisions: Mapping | None = None,
    implementation: type[MedlineWriter] = MedlineWriter,
) -> None:
    """Write ``records`` as MEDLINE text (``decisions`` are not part of the format)."""
    if decisions:
        raise ValueError("MEDLINE text cannot carry screening decisions; write csv, xlsx or ris")
    write_target(path_or_file, dumps(records, implementation=implementation))
