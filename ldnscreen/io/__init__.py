"""Read and write every bibliographic export format a review starts from.

:func:`read_file` picks the format from the file's extension *and* content
(a ``.txt`` may be MEDLINE, Web of Science plain text or Web of Science
tab-delimited), reads it, and returns a :class:`ReadResult`. Any problem is
a :class:`ReadError` whose message is one line naming the file, the line or
record and the problem. :func:`write_file` writes records (and screening
decisions where the format can hold them) in any format of :data:`FORMATS`.

Each format also has its own module with a ``json``-like API
(``load``/``loads``/``dump``/``dumps``): :mod:`.medline`, :mod:`.pubmed_xml`,
:mod:`.ris`, :mod:`.wos`, :mod:`.tabular`.

Examples
--------
>>> import tempfile, pathlib
>>> from ldnscreen.records import Record
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_file([Record(title="LDN in fibromyalgia", year=2013)], folder / "out.ris")
>>> result = read_file(folder / "out.ris")
>>> result.format, result.database, result.records[0].year
('ris', 'ris', 2013)
"""

from __future__ import annotations

import codecs
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..records import Record
from . import medline, pubmed_xml, ris, tabular, wos
from .base import BadRecord, Reader, ReadError

__all__ = [
    "BadRecord",
    "Format",
    "FORMATS",
    "ReadError",
    "ReadResult",
    "convert_file",
    "detect_format",
    "read_file",
    "write_file",
]


@dataclass(frozen=True)
class Format:
    """One entry of :data:`FORMATS`.

    Parameters
    ----------
    name : str
        Registry name, the ``format=`` value.
    reader : type or None
        :class:`~ldnscreen.io.base.Reader` subclass, or None if write-only.
    writer : type or None
        Writer class passed to the module's ``dump``, or None if read-only.
    module : module
        The format's module (its ``dump`` is used to write).
    extensions : tuple of str
        File extensions this format is usually saved with.
    description : str
        What the format is, for help texts.
    """

    name: str
    reader: type | None
    writer: type | None
    module: Any = field(repr=False)
    extensions: tuple[str, ...]
    description: str


def _format(name, reader, writer, module, extensions, description) -> tuple[str, Format]:
    return name, Format(name, reader, writer, module, extensions, description)


#: Every format ldnscreen reads or writes, by name.
FORMATS: dict[str, Format] = dict(
    [
        _format("medline", medline.MedlineReader, medline.MedlineWriter, medline,
                (".nbib", ".txt", ".medline"), "PubMed MEDLINE text"),
        _format("pubmed-xml", pubmed_xml.PubmedXmlReader, pubmed_xml.PubmedXmlWriter, pubmed_xml,
                (".xml",), "PubMed XML (PubmedArticleSet)"),
        _format("ris", ris.AutoRisReader, ris.RisWriter, ris, (".ris",),
                "RIS, dialect (Embase, Scopus, Zotero, EndNote) recognised from the content"),
        _format("ris-embase", ris.EmbaseRisReader, ris.EmbaseRisWriter, ris, (".ris",), "Embase RIS"),
        _format("ris-scopus", ris.ScopusRisReader, ris.ScopusRisWriter, ris, (".ris",), "Scopus RIS"),
        _format("ris-zotero", ris.ZoteroRisReader, ris.RisWriter, ris, (".ris",), "Zotero RIS"),
        _format("ris-endnote", ris.EndNoteRisReader, ris.RisWriter, ris, (".ris",), "EndNote RIS"),
        _format("wos-tab", wos.WosTabReader, wos.WosTabWriter, wos, (".txt", ".tsv"),
                "Web of Science tab-delimited (UTF-8 with BOM)"),
        _format("wos-tab-utf16", wos.WosTabReader, wos.WosTabUtf16Writer, wos, (".txt",),
                "Web of Science tab-delimited, Windows UTF-16 LE with BOM"),
        _format("wos-plain", wos.WosPlainReader, wos.WosPlainWriter, wos, (".txt", ".ciw"),
                "Web of Science plain text (FN/VR/PT...ER/EF)"),
        _format("csv", tabular.CsvReader, tabular.CsvWriter, tabular, (".csv",), "comma-separated values"),
        _format("tsv", tabular.TsvReader, tabular.TsvWriter, tabular, (".tsv", ".tab"), "tab-separated values"),
        _format("xlsx", tabular.XlsxReader, tabular.XlsxWriter, tabular, (".xlsx",), "Excel workbook"),
    ]
)


@dataclass(frozen=True)
class ReadResult:
    """What :func:`read_file` found in one export file.

    Parameters
    ----------
    records : list of Record
        The records read, in file order.
    skipped : list of BadRecord
        Records left out (only with ``skip_bad=True``), with why.
    format : str
        Name of the format read (a key of :data:`FORMATS`).
    database : str
        Database the export comes from (``"pubmed"``, ``"embase"``, ``"wos"``...).
    path : Path
        The file read.
    """

    records: list[Record]
    skipped: list[BadRecord]
    format: str
    database: str
    path: Path


def _head_text(data: bytes) -> str:
    head = data[:65536]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head.decode("utf-16", errors="replace")
    if head[1:200:2].count(0) > 50:  # UTF-16 LE without a byte-order mark
        return head.decode("utf-16-le", errors="replace")
    return head.decode("utf-8", errors="replace")


def detect_format(path: str | os.PathLike, data: bytes | None = None) -> str:
    """The :data:`FORMATS` name for ``path``, from its content first, then its extension.

    Parameters
    ----------
    path : str or path-like
        The file; its extension breaks ties.
    data : bytes, optional
        The file's content (read from ``path`` when not given).

    Raises
    ------
    ReadError
        When neither content nor extension tells the format.

    Examples
    --------
    >>> detect_format("savedrecs.txt", b"FN Clarivate Analytics Web of Science\\nVR 1.0\\nPT J\\n")
    'wos-plain'
    >>> detect_format("pubmed.txt", b"\\nPMID- 123\\nTI  - x\\n")
    'medline'
    >>> detect_format("savedrecs.txt", b"\\xef\\xbb\\xbfPT\\tAU\\tTI\\tUT\\nJ\\tA\\tB\\tC\\n")
    'wos-tab'
    """
    path = Path(path)
    if data is None:
        try:
            with open(path, "rb") as handle:
                data = handle.read(65536)
        except OSError as error:
            raise ReadError(path.name, "", f"cannot read the file ({error.strerror or error})") from error
    extension = path.suffix.lower()
    if not data.strip():
        raise ReadError(path.name, "", "the file is empty")
    if data.startswith(b"PK\x03\x04") or extension == ".xlsx":
        return "xlsx"
    text = _head_text(data).lstrip("\ufeff")
    stripped = text.lstrip()
    first_line = stripped.split("\n", 1)[0].rstrip("\r")
    columns = set(first_line.split("\t"))
    if stripped.startswith("<") and ("PubmedArticle" in text or "PubmedBookArticle" in text or extension == ".xml"):
        return "pubmed-xml"
    if re.search(r"^PMID-", text, re.M):
        return "medline"
    if re.match(r"(?:FN |VR |PT [A-Z]\s*$)", stripped, re.M):
        return "wos-plain"
    if {"PT", "TI"} <= columns and ({"UT", "AU", "SO"} & columns):
        return "wos-tab"
    if re.search(r"^TY  - ", text, re.M):
        return "ris"
    by_extension = {".csv": "csv", ".ris": "ris", ".nbib": "medline", ".xml": "pubmed-xml"}
    if extension in by_extension:  # the reader will say what is wrong with the content
        return by_extension[extension]
    if extension in (".tsv", ".tab"):
        return "tsv"
    if first_line.count("\t") > first_line.count(",") and "\t" in first_line:
        return "tsv"
    if "," in first_line and extension in ("", ".txt"):
        return "csv"
    raise ReadError(
        path.name,
        "",
        "cannot tell the export format from the extension or the content; pass format= one of "
        + ", ".join(FORMATS),
    )


def read_file(
    path: str | os.PathLike,
    *,
    format: str | None = None,
    encoding: str | None = None,
    skip_bad: bool = False,
    keep_untitled: bool = False,
) -> ReadResult:
    """Read one export file into records.

    Parameters
    ----------
    path : str or path-like
        The export file.
    format : str, optional
        A :data:`FORMATS` name; detected from content and extension if omitted.
    encoding : str, optional
        Text encoding; by default a byte-order mark decides, otherwise UTF-8.
    skip_bad : bool, default=False
        Leave out records that cannot be read (listed in ``skipped``) instead
        of raising.
    keep_untitled : bool, default=False
        Keep records without a title (with an empty one) instead of treating
        them as bad: a simulation replays every record of a labelled review.

    Returns
    -------
    ReadResult

    Raises
    ------
    ReadError
        The file is unreadable, truncated, wrongly encoded, of unknown format,
        or (unless ``skip_bad``) holds a bad record. The message is one line:
        ``pubmed.nbib, line 57: record 3 has no title (TI) field``.
    """
    path = Path(path)
    if format is None:
        format = detect_format(path)
    if format not in FORMATS or FORMATS[format].reader is None:
        raise ReadError(path.name, "", f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    reader: Reader = FORMATS[format].reader()
    reader.keep_untitled = keep_untitled
    records, bad, name = reader.read(path, encoding)
    Reader._check(records, bad, name, skip_bad)
    return ReadResult(records, bad, format, reader.DATABASE, path)


_WRITE_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".xlsx": "xlsx", ".ris": "ris", ".nbib": "medline", ".xml": "pubmed-xml"}


def write_file(
    records: Iterable[Record],
    path: str | os.PathLike,
    *,
    format: str | None = None,
    decisions: Mapping[str, Any] | None = None,
) -> None:
    """Write ``records`` to ``path`` in ``format`` (from the extension if omitted).

    Parameters
    ----------
    records : iterable of Record
    path : str or path-like
    format : str, optional
        A :data:`FORMATS` name; ``.csv``, ``.tsv``, ``.xlsx``, ``.ris``,
        ``.nbib`` and ``.xml`` imply one.
    decisions : mapping, optional
        Record id -> decision (a mapping or an object with ``label``,
        ``reason``, ``stage``, ``reviewer``, ``note``). Only csv, tsv, xlsx and
        the RIS formats can hold decisions.

    Raises
    ------
    ValueError
        Unknown format, an extension that does not tell the format (``.txt``),
        or decisions for a format that cannot hold them.
    """
    path = Path(path)
    if format is None:
        format = _WRITE_EXTENSIONS.get(path.suffix.lower())
        if format is None:
            raise ValueError(f"cannot tell the format from {path.name!r}; pass format= one of {', '.join(FORMATS)}")
    spec = FORMATS.get(format)
    if spec is None or spec.writer is None:
        raise ValueError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    spec.module.dump(list(records), path, decisions=decisions, implementation=spec.writer)


def convert_file(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    format: str | None = None,
    to: str | None = None,
    encoding: str | None = None,
    skip_bad: bool = False,
) -> ReadResult:
    """Read one export and write its records in another format.

    Parameters
    ----------
    source, out : path
        The export to read and the file to write.
    format : str, optional
        Format of ``source`` (detected if omitted).
    to : str, optional
        Format of ``out`` (from its extension if omitted).
    encoding : str, optional
        Text encoding of ``source``.
    skip_bad : bool, default=False
        Leave out unreadable records instead of stopping.

    Returns
    -------
    ReadResult
        What was read from ``source`` (its records are what was written).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "savedrecs.txt").write_text("PT\\tAU\\tTI\\tPY\\tUT\\nJ\\tDoe, J\\tLDN in CRPS\\t2016\\tWOS:1\\n")
    >>> convert_file(folder / "savedrecs.txt", folder / "for_zotero.ris").database
    'wos'
    >>> read_file(folder / "for_zotero.ris").records[0].title
    'LDN in CRPS'
    """
    result = read_file(source, format=format, encoding=encoding, skip_bad=skip_bad)
    write_file(result.records, out, format=to)
    return result
