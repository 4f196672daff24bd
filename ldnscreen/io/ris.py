"""RIS (``.ris``) from Embase, Scopus, Zotero and EndNote: read and write.

Parsing is done by :mod:`rispy`; this module only finds where each record
starts and ends (so a bad record can be named by its line), turns rispy's
entries into :class:`~ldnscreen.records.Record` values, and knows each
database's tag habits:

- Embase: ``T1`` title, ``A1`` authors as ``"Younger J."``, ``N2`` abstract,
  ``Y1  - 2019//``, ``JF``/``JA`` journal, ``C5`` PMID, ``U2`` Embase id,
  ``DB  - Embase``, repeated ``KW`` and ``LA``;
- Scopus: ``TI``, ``AU``, ``AB``, ``PY``, ``T2`` journal, ``DO``, ``C2`` PMID,
  ``N1  - ... Export Date: ...``, ``DB  - Scopus``;
- Zotero: ``TI``, ``AU  - Younger, Jarred``, ``T2``, ``AB``, ``DA  - 2009/06//``,
  ``PY``, ``Y2`` access date, ``N1`` notes in ``<p>`` tags;
- EndNote: ``T1``/``TI``, ``JO``/``T2``, ``Y1``/``PY``, ``AB`` or ``N2``.

Unknown tags are kept by rispy (never an error). Screening decisions are
written as ``N1`` notes in the form ASReview reads back
(``ASReview_relevant`` / ``ASReview_irrelevant``), followed by the exclusion
reason, so ASReview, Zotero and EndNote all show them.

Examples
--------
>>> text = '''TY  - JOUR
... T1  - Low dose naltrexone in Crohn's disease
... A1  - Smith J.P.
... Y1  - 2007//
... N2  - An open-label pilot.
... DB  - Embase
... N1  - ASReview_relevant
... ER  - '''
>>> [r] = loads(text)
>>> r.title, r.authors, r.year, r.abstract, r.labels, r.provenance[0].database
("Low dose naltrexone in Crohn's disease", ('Smith, J.P.',), 2007, 'An open-label pilot.', {'label_included': 1}, 'embase')
"""

from __future__ import annotations

import re
from typing import ClassVar, Iterable, Mapping

import rispy
from rispy.config import TAG_KEY_MAPPING, TYPE_OF_REFERENCE_MAPPING

from ..records import Provenance, Record, normalise_doi
from .base import (
    BadRecord,
    PathOrFile,
    Reader,
    decision_fields,
    label_from_decision,
    parse_tagged_records,
    parse_year,
    unescape_entities,
    write_target,
)

__all__ = [
    "RisReader",
    "EmbaseRisReader",
    "ScopusRisReader",
    "ZoteroRisReader",
    "EndNoteRisReader",
    "AutoRisReader",
    "RisWriter",
    "EmbaseRisWriter",
    "ScopusRisWriter",
    "DIALECTS",
    "sniff_dialect",
    "load",
    "loads",
    "dump",
    "dumps",
]


class _TagsAsKeys(dict):
    """rispy mapping that keeps every tag, known or not, under its own name."""

    def __missing__(self, tag: str) -> str:
        return tag


_LIST_TAGS = ["AU", "A1", "A2", "A3", "A4", "KW", "N1", "UR", "L1", "L2", "AB", "N2"]  # (abstracts in sections)
_START = re.compile(r"^TY  -")
_END = re.compile(r"^ER  -")
_LABEL = re.compile(r"ASReview_(relevant|irrelevant|not_seen)")
_EXTRA_LABEL = re.compile(r"ldnscreen:(\w+)=(-?\d+)")
_EMBASE_AUTHOR = re.compile(r"^(?P<family>[^,.]+?)\s+(?P<initials>(?:[A-Z]\.?-?\s?){1,4})$")


def _values(entry: dict, tag: str) -> list[str]:
    value = entry.get(tag)
    if value is None:
        return []
    return [v for v in (value if isinstance(value, list) else [value]) if v and v.strip()]


def _author(name: str) -> str:
    """``"Younger J.W."`` (Embase, Scopus without comma) -> ``"Younger, J.W."``."""
    name = " ".join(name.split())
    if "," in name:
        return name
    match = _EMBASE_AUTHOR.match(name)
    if not match or match["family"].isupper():  # "NILAY OZA" is a given and a family name
        return name
    return f"{match['family']}, {match['initials'].strip()}"


class RisReader(Reader):
    """Reader for RIS whatever its origin; dialects override the tag tuples.

    Attributes
    ----------
    SNIFF : re.Pattern or None
        Pattern whose presence in a file marks this dialect.
    """

    FORMAT = "ris"
    DATABASE = "ris"
    SNIFF: ClassVar[re.Pattern | None] = None
    TITLE_TAGS: ClassVar[tuple[str, ...]] = ("TI", "T1", "CT", "BT", "ST")
    ABSTRACT_TAGS: ClassVar[tuple[str, ...]] = ("AB", "N2")
    AUTHOR_TAGS: ClassVar[tuple[str, ...]] = ("AU", "A1")
    YEAR_TAGS: ClassVar[tuple[str, ...]] = ("PY", "Y1", "DA")
    JOURNAL_TAGS: ClassVar[tuple[str, ...]] = ("T2", "JF", "JO", "JA", "J2")
    PMID_TAGS: ClassVar[tuple[str, ...]] = ()
    ID_TAGS: ClassVar[tuple[str, ...]] = ("ID", "U2", "AN")
    TYPE_TAGS: ClassVar[tuple[str, ...]] = ("M3",)

    def __init__(self) -> None:
        self._parser = rispy.RisParser(
            mapping=_TagsAsKeys(),
            list_tags=_LIST_TAGS,
            delimiter_tags_mapping={},
            enforce_list_tags=False,
        )

    def parse(self, text: str, file: str = "<string>") -> tuple[list[Record], list[BadRecord]]:
        return parse_tagged_records(
            text, file, lambda lines, position: self.to_record(lines, file, position),
            is_start=_START.match, is_end=_END.match, start_tag="TY  - ", format_name="RIS",
        )

    def to_record(self, lines: list[str], file: str, position: int) -> Record:
        """Build one record from the lines ``TY`` to ``ER``; ValueError if unusable."""
        try:
            [entry] = self._parser.parse_lines(iter(lines))
        except (KeyError, ValueError, AttributeError, TypeError) as error:
            # (rispy's TypeError: a repeated single-value tag followed by a continuation line)
            raise ValueError(f"cannot be parsed ({error!r})") from None

        def first(tags: Iterable[str]) -> str:
            for tag in tags:
                values = _values(entry, tag)
                if values:
                    return " ".join(values[0].split())
            return ""

        def every(tags: Iterable[str]) -> str:  # an abstract exported in sections, one AB each
            for tag in tags:
                values = _values(entry, tag)
                if values:
                    return " ".join(" ".join(values).split())
            return ""

        title = unescape_entities(first(self.TITLE_TAGS))
        if not title and not self.keep_untitled:
            raise ValueError(f"has no title ({'/'.join(self.TITLE_TAGS[:2])}) field")
        doi = first(("DO", "DI"))
        if not doi:
            for url in _values(entry, "L2") + _values(entry, "UR"):
                if "doi.org/" in url:
                    doi = url
                    break
        notes = [re.sub(r"^<p>|</p>$", "", n.strip()) for n in _values(entry, "N1")]
        labels: dict[str, int] = {}
        found = [m for note in notes for m in _LABEL.findall(note)]
        if found and found[-1] != "not_seen":
            labels["label_included"] = 1 if found[-1] == "relevant" else 0
        for note in notes:
            for name, value in _EXTRA_LABEL.findall(note):
                labels[name] = int(value)
        pmid = first(self.PMID_TAGS)
        if not pmid:
            match = re.search(r"\bPMID:\s*(\d+)", " ".join(notes))
            pmid = match.group(1) if match else ""
        kind = first(("TY",))
        types = [v for tag in self.TYPE_TAGS for v in _values(entry, tag)]
        if kind and kind != "JOUR" and kind in TYPE_OF_REFERENCE_MAPPING:
            types.append(TYPE_OF_REFERENCE_MAPPING[kind])
        return Record(
            title=title,
            abstract=unescape_entities(every(self.ABSTRACT_TAGS)),
            authors=tuple(_author(unescape_entities(a)) for tag in self.AUTHOR_TAGS for a in _values(entry, tag)),
            year=parse_year(first(self.YEAR_TAGS)),
            journal=unescape_entities(first(self.JOURNAL_TAGS)),
            doi=normalise_doi(doi),
            pmid=pmid,
            keywords=tuple(dict.fromkeys(unescape_entities(k.strip()) for k in _values(entry, "KW"))),
            language=first(("LA",)),
            publication_types=tuple(dict.fromkeys(types)),
            provenance=(Provenance(self.DATABASE, file, position, first(self.ID_TAGS) or pmid),),
            labels=labels,
        )


class EmbaseRisReader(RisReader):
    """Embase RIS: ``T1``, ``A1``, ``N2``, ``Y1  - 2019//``, ``C5`` PMID, ``U2`` id."""

    DATABASE = "embase"
    SNIFF = re.compile(r"^(?:DB  - Embase|UR  - https?://www\.embase\.com|U2  - L\d+)", re.M)
    TITLE_TAGS = ("T1", "TI", "CT")
    ABSTRACT_TAGS = ("N2", "AB")
    AUTHOR_TAGS = ("A1", "AU")
    YEAR_TAGS = ("Y1", "PY")
    JOURNAL_TAGS = ("JF", "T2", "JO", "JA")
    PMID_TAGS = ("C5",)
    ID_TAGS = ("U2", "ID", "AN")


class ScopusRisReader(RisReader):
    """Scopus RIS: ``TI``, ``AB``, ``PY``, ``T2``, ``C2`` PMID, ``N1  - Export Date``."""

    DATABASE = "scopus"
    SNIFF = re.compile(r"^(?:DB  - Scopus|UR  - https?://www\.scopus\.com|N1  - .*Export Date)", re.M)
    PMID_TAGS = ("C2",)
    ID_TAGS = ("ID", "AN")


class ZoteroRisReader(RisReader):
    """Zotero RIS: ``DA  - 2009/06//``, ``Y2`` access time, ``N1`` notes in ``<p>``."""

    DATABASE = "zotero"
    SNIFF = re.compile(r"^(?:Y2  - \d{4}[-/]\d\d[-/]\d\d[ /]\d\d:\d\d|DA  - \d{4}/(?:\d\d)?/(?:\d\d)?/|L1  - .*[Zz]otero|N1  - <p>)", re.M)


class EndNoteRisReader(RisReader):
    """EndNote RIS: ``T1``, ``JO``/``JF``, ``Y1``, ``N2`` or ``AB``."""

    DATABASE = "endnote"
    SNIFF = re.compile(r"^(?:T1|Y1|JO)  - ", re.M)


DIALECTS: tuple[type[RisReader], ...] = (EmbaseRisReader, ScopusRisReader, ZoteroRisReader, EndNoteRisReader)


def sniff_dialect(text: str) -> type[RisReader]:
    """The RIS reader whose habits ``text`` shows; plain :class:`RisReader` if none.

    Examples
    --------
    >>> sniff_dialect("TY  - JOUR\\nDB  - Scopus\\nER  - ").DATABASE
    'scopus'
    >>> sniff_dialect("TY  - JOUR\\nTI  - x\\nER  - ").DATABASE
    'ris'
    """
    head = text[:200_000]
    for dialect in DIALECTS:
        if dialect.SNIFF is not None and dialect.SNIFF.search(head):
            return dialect
    return RisReader


class RisWriter:
    """Writes records as RIS through :func:`rispy.dumps`; dialects override tags.

    A decision is written as ``N1`` notes: ``ASReview_relevant`` or
    ``ASReview_irrelevant`` (what ASReview reads back as its label), then
    ``Exclusion reason: ...`` and ``Screening note: ...``; labels carried by the
    record itself are written the same way when there is no decision.
    """

    DATABASE: ClassVar[str] = ""
    TITLE_TAG: ClassVar[str] = "TI"
    ABSTRACT_TAG: ClassVar[str] = "AB"
    AUTHOR_TAG: ClassVar[str] = "AU"
    YEAR_TAG: ClassVar[str] = "PY"
    YEAR_FORMAT: ClassVar[str] = "{year}"
    JOURNAL_TAG: ClassVar[str] = "T2"
    PMID_TAG: ClassVar[str] = ""
    ID_TAG: ClassVar[str] = "ID"
    EXTRA: ClassVar[tuple[tuple[str, str], ...]] = ()

    class _Rispy(rispy.RisWriter):
        def set_header(self, count: int) -> str:
            return ""

    def entry(self, record: Record, decision: object = None) -> dict:
        """The rispy entry (keys are rispy's field names) for ``record``."""
        tags: dict[str, object] = {}

        def put(tag: str, value: object) -> None:
            if not value:
                return
            if isinstance(value, (list, tuple)):
                value = [" ".join(str(v).split()) for v in value if v]
            else:
                value = " ".join(str(value).split())
            tags[TAG_KEY_MAPPING[tag]] = value

        tags[TAG_KEY_MAPPING["TY"]] = "JOUR"
        put(self.ID_TAG, record.id)
        put(self.TITLE_TAG, record.title)
        put(self.AUTHOR_TAG, list(record.authors))
        if record.year:
            put(self.YEAR_TAG, self.YEAR_FORMAT.format(year=record.year))
        put(self.JOURNAL_TAG, record.journal)
        put(self.ABSTRACT_TAG, record.abstract)
        put("KW", list(record.keywords))
        put("DO", record.doi)
        if self.PMID_TAG:
            put(self.PMID_TAG, record.pmid)
        put("LA", record.language)
        put("M3", list(record.publication_types))
        for tag, value in self.EXTRA:
            put(tag, value)
        put("N1", self.notes(record, decision))
        return tags

    def notes(self, record: Record, decision: object) -> list[str]:
        notes = []
        if not self.PMID_TAG and record.pmid:
            notes.append(f"PMID: {record.pmid}")
        label = label_from_decision(decision) if decision is not None else record.labels.get("label_included")
        if label is not None:
            notes.append("ASReview_relevant" if label == 1 else "ASReview_irrelevant")
        for name, value in sorted(record.labels.items()):
            if name != "label_included":
                notes.append(f"ldnscreen:{name}={int(value)}")
        if decision is not None:
            fields = decision_fields(decision)
            if fields["reason"]:
                notes.append(f"Exclusion reason: {fields['reason']}")
            if fields["note"]:
                notes.append(f"Screening note: {fields['note']}")
            detail = ", ".join(
                f"{k} {fields[k]}" for k in ("stage", "reviewer", "decided_at") if fields[k]
            )
            if fields["label"]:
                notes.append(f"ldnscreen decision: {fields['label']}" + (f" ({detail})" if detail else ""))
        return notes

    def formats(self, records: Iterable[Record], decisions: Mapping | None = None) -> str:
        decisions = decisions or {}
        entries = [self.entry(r, decisions.get(r.id)) for r in records]
        return rispy.dumps(entries, implementation=self._Rispy, enforce_list_tags=False)


class EmbaseRisWriter(RisWriter):
    """RIS with Embase's tags (``T1``, ``A1``, ``N2``, ``Y1  - 2019//``, ``C5``)."""

    DATABASE = "embase"
    TITLE_TAG = "T1"
    ABSTRACT_TAG = "N2"
    AUTHOR_TAG = "A1"
    YEAR_TAG = "Y1"
    YEAR_FORMAT = "{year}//"
    JOURNAL_TAG = "JF"
    PMID_TAG = "C5"
    EXTRA = (("DB", "Embase"),)


class ScopusRisWriter(RisWriter):
    """RIS with Scopus's tags (``TI``, ``AB``, ``PY``, ``T2``, ``C2`` PMID)."""

    DATABASE = "scopus"
    PMID_TAG = "C2"
    EXTRA = (("DB", "Scopus"),)


def load(
    path_or_file: PathOrFile,
    *,
    encoding: str | None = None,
    skip_bad: bool = False,
    implementation: type[RisReader] | None = None,
) -> list[Record]:
    """Records of an RIS file; the dialect is sniffed unless ``implementation`` is given."""
    return _reader(implementation).load(path_or_file, encoding=encoding, skip_bad=skip_bad)


def loads(text: str, *, skip_bad: bool = False, implementation: type[RisReader] | None = None) -> list[Record]:
    """Records of RIS text; the dialect is sniffed unless ``implementation`` is given."""
    reader = implementation() if implementation else sniff_dialect(text)()
    return reader.loads(text, skip_bad=skip_bad)


class AutoRisReader(RisReader):
    """RIS reader that picks its dialect (:data:`DIALECTS`) from the text it is given."""

    def parse(self, text: str, file: str = "<string>") -> tuple[list[Record], list[BadRecord]]:
        reader = sniff_dialect(text)()
        reader.keep_untitled = self.keep_untitled
        self.DATABASE = reader.DATABASE  # type: ignore[misc]
        return reader.parse(text, file)


def _reader(implementation: type[RisReader] | None) -> RisReader:
    return implementation() if implementation else AutoRisReader()


def dumps(
    records: Iterable[Record],
    *,
    decisions: Mapping | None = None,
    implementation: type[RisWriter] = RisWriter,
) -> str:
    """RIS text of ``records``, with ``decisions`` (record id -> decision) as N1 notes."""
    return implementation().formats(records, decisions)


def dump(
    records: Iterable[Record],
    path_or_file: PathOrFile,
    *,
    decisions: Mapping | None = None,
    implementation: type[RisWriter] = RisWriter,
) -> None:
    """Write ``records`` (and ``decisions``) as an RIS file in UTF-8."""
    write_target(path_or_file, dumps(records, decisions=decisions, implementation=implementation))
