"""What every reader and writer shares: errors, decoding, the reader contract.

A reader turns the text (or bytes) of one export file into
:class:`~ldnscreen.records.Record` values. Every format module exposes the
same ``json``-like functions, built from a :class:`Reader` subclass whose
class attributes name the format and the database it comes from; a dialect
(Embase RIS, Web of Science tab-delimited in UTF-16...) is a subclass that
overrides class attributes, as rispy's ``WokParser(RisParser)`` does.
"""

from __future__ import annotations

import codecs
import html
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, ClassVar, Iterator, Mapping, Union

from ..records import Record

__all__ = [
    "BadRecord",
    "ReadError",
    "Reader",
    "PathOrFile",
    "decode_bytes",
    "decision_fields",
    "iter_lines",
    "parse_tagged_records",
    "parse_year",
    "split_list",
    "unescape_entities",
]

PathOrFile = Union[str, os.PathLike, IO[str], IO[bytes]]


@dataclass(frozen=True)
class BadRecord:
    """A record a reader had to leave out, and why.

    Parameters
    ----------
    location : str
        Where it is in the file, e.g. ``"line 57"`` or ``"record 3"``.
    problem : str
        What is wrong with it, in a reviewer's words.
    """

    location: str
    problem: str


class ReadError(Exception):
    """An export file could not be read; the message is one line.

    The message names the file, the place in it and the problem, e.g.
    ``pubmed.nbib, line 57: record 3 has no title (TI) field``.

    Examples
    --------
    >>> str(ReadError("pubmed.nbib", "line 57", "record 3 has no title (TI) field"))
    'pubmed.nbib, line 57: record 3 has no title (TI) field'
    >>> str(ReadError("empty.ris", "", "the file is empty"))
    'empty.ris: the file is empty'
    """

    def __init__(self, file: str, location: str, problem: str) -> None:
        self.file = file
        self.location = location
        self.problem = " ".join(str(problem).split())
        where = f"{file}, {location}" if location else file
        super().__init__(f"{where}: {self.problem}")


def _source_name(source: PathOrFile) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return Path(str(getattr(source, "name", "<file>"))).name


def _read_source(source: PathOrFile) -> tuple[bytes | str, str]:
    """The raw content of a path or an open file, and the file's name."""
    name = _source_name(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            return Path(source).read_bytes(), name
        except OSError as error:
            raise ReadError(name, "", f"cannot read the file ({error.strerror or error})") from error
    return source.read(), name


def _line_of(text_before: str) -> int:
    return text_before.count("\n") + 1


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def decode_bytes(data: bytes, file: str, encoding: str | None = None) -> str:
    """Decode an export file strictly, with a one-line error when it cannot be.

    Without ``encoding``, a byte-order mark chooses UTF-8 or UTF-16 (Web of
    Science writes both); otherwise the file must be UTF-8. Bytes that are not
    valid, or NUL characters (UTF-16 without a byte-order mark), raise
    :class:`ReadError` naming the line, instead of silently garbling text.

    Examples
    --------
    >>> decode_bytes("Naltrexona en dosis bajas".encode("utf-8"), "a.ris")
    'Naltrexona en dosis bajas'
    >>> decode_bytes(b"\\xff\\xfeP\\x00T\\x00", "savedrecs.txt")
    'PT'
    >>> decode_bytes("TI  - Caf\\u00e9".encode("latin-1"), "a.ris")
    Traceback (most recent call last):
    ...
    ldnscreen.io.base.ReadError: a.ris, line 1: byte 0xe9 is not valid UTF-8; the file is probably Windows-1252 or Latin-1: pass encoding='cp1252' (on the command line --encoding cp1252) or re-save the file as UTF-8
    >>> decode_bytes(b"TI  - Caf\\xe9 \\x81", "a.ris")  # (0x81 is no Windows-1252 character)
    Traceback (most recent call last):
    ...
    ldnscreen.io.base.ReadError: a.ris, line 1: byte 0xe9 is not valid UTF-8; the file is probably Windows-1252 or Latin-1: pass encoding='latin-1' (on the command line --encoding latin-1) or re-save the file as UTF-8
    """
    if encoding is None:
        if data.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding = "utf-16"
        else:
            encoding = "utf-8"
    else:
        try:
            if codecs.lookup(encoding).name == "utf-8" and data.startswith(codecs.BOM_UTF8):
                encoding = "utf-8-sig"
        except LookupError:
            raise ReadError(file, "", f"unknown encoding {encoding!r}") from None
    label = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16"}.get(encoding, encoding)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        line = _line_of(data[: error.start].decode(encoding, errors="replace"))
        if encoding.startswith("utf-16"):
            problem = f"the file is not valid {label} at byte {error.start} (truncated?)"
        else:
            # Windows-1252 (Excel's CSV on Windows) reads every Latin-1 letter the same and its
            # curly quotes and dashes (0x80-0x9f) too; Latin-1 reads any byte
            guess = "cp1252" if _decodes(data, "cp1252") else "latin-1"
            problem = (
                f"byte 0x{data[error.start]:02x} is not valid {label}; the file is probably "
                f"Windows-1252 or Latin-1: pass encoding='{guess}' (on the command line --encoding {guess}) "
                "or re-save the file as UTF-8"
            )
        raise ReadError(file, f"line {line}", problem) from None
    except LookupError:
        raise ReadError(file, "", f"unknown encoding {encoding!r}") from None
    nul = text.find("\x00")
    if nul >= 0:
        raise ReadError(
            file,
            f"line {_line_of(text[:nul])}",
            "the file contains NUL characters: it is probably UTF-16 without a byte-order "
            "mark; pass encoding='utf-16-le' (on the command line --encoding utf-16-le)",
        )
    return text


class Reader:
    """Base of every format reader: override the class attributes and :meth:`parse`.

    Attributes
    ----------
    FORMAT : str
        Registry name of the format (``"medline"``, ``"ris"``...).
    DATABASE : str
        Database recorded in each record's provenance.
    """

    FORMAT: ClassVar[str] = ""
    DATABASE: ClassVar[str] = ""
    #: True for formats read from bytes (XML, XLSX): :meth:`read_bytes` gets the raw file.
    BINARY: ClassVar[bool] = False
    #: Keep a record without a title instead of reporting it as bad (a simulation replays every
    #: record of a labelled review, as ASReview does; an import needs titles to screen and dedupe).
    keep_untitled: bool = False

    def parse(self, text: str, file: str = "<string>") -> tuple[list[Record], list[BadRecord]]:
        """Records and bad records found in ``text``; raise ReadError if unreadable."""
        raise NotImplementedError

    def read_bytes(
        self, data: bytes, file: str, encoding: str | None = None
    ) -> tuple[list[Record], list[BadRecord]]:
        """Decode ``data`` and :meth:`parse` it."""
        return self.parse(decode_bytes(data, file, encoding), file)

    def read(
        self, source: PathOrFile, encoding: str | None = None
    ) -> tuple[list[Record], list[BadRecord], str]:
        """Records, bad records and file name of a path or open file."""
        content, name = _read_source(source)
        if isinstance(content, str):
            records, bad = self.parse(content, name)
        elif not content.strip():
            raise ReadError(name, "", "the file is empty")
        elif self.BINARY:
            records, bad = self.read_bytes(content, name, encoding)
        else:
            text = decode_bytes(content, name, encoding)
            del content  # a large export need not be held twice
            records, bad = self.parse(text, name)
        return records, bad, name

    # json-like helpers used by each module's load/loads -----------------
    def load(self, source: PathOrFile, *, encoding: str | None = None, skip_bad: bool = False) -> list[Record]:
        records, bad, name = self.read(source, encoding)
        return self._check(records, bad, name, skip_bad)

    def loads(self, text: str, *, skip_bad: bool = False, file: str = "<string>") -> list[Record]:
        records, bad = self.parse(text, file)
        return self._check(records, bad, file, skip_bad)

    @staticmethod
    def _check(records: list[Record], bad: list[BadRecord], file: str, skip_bad: bool) -> list[Record]:
        if bad and not skip_bad:
            more = f" (and {len(bad) - 1} more bad records; skip_bad=True reads the rest)" if len(bad) > 1 else ""
            raise ReadError(file, bad[0].location, bad[0].problem + more)
        return records


def iter_lines(text: str, keepends: bool = False) -> Iterator[str]:
    r"""Lines of ``text`` one at a time (``str.splitlines`` would copy a large export at once).

    Lines end at ``\n``; a ``\r`` before it is dropped unless ``keepends``.

    Examples
    --------
    >>> list(iter_lines("a\r\nb\nc")), list(iter_lines("a\nb\n", keepends=True))
    (['a', 'b', 'c'], ['a\n', 'b\n'])
    """
    start = 0
    find = text.find
    while True:
        end = find("\n", start)
        if end < 0:
            if start < len(text):
                yield text[start:] if keepends else text[start:].rstrip("\r")
            return
        if keepends:
            yield text[start : end + 1]
        else:
            yield text[start : end - 1] if end > start and text[end - 1] == "\r" else text[start:end]
        start = end + 1


def parse_tagged_records(
    text: str,
    file: str,
    build: Callable[[list[str], int], Record],
    *,
    is_start: Callable[[str], Any],
    is_end: Callable[[str], Any],
    start_tag: str,
    format_name: str,
    skip: Callable[[str], Any] = lambda line: False,
    errors: tuple[type[Exception], ...] = (ValueError,),
) -> tuple[list[Record], list[BadRecord]]:
    """Cut a tagged export (RIS, Web of Science plain text) into records, start tag to ``ER``.

    ``build(lines, position)`` turns one record's lines into a :class:`Record`
    and raises one of ``errors`` when the record is unusable;
    such records, and records without an end tag, are returned as bad with the
    line where they start. An ``ER`` with no record open, or a file with no
    record at all, raises :class:`ReadError`.
    """
    records: list[Record] = []
    bad: list[BadRecord] = []
    chunk: list[str] = []
    start = 0

    def bad_record(problem: str) -> None:
        bad.append(BadRecord(f"line {start}", f"record {len(records) + len(bad) + 1} {problem}"))

    for number, line in enumerate(iter_lines(text), start=1):
        line = line.lstrip("\ufeff")
        if is_start(line):
            if chunk:
                bad_record("has no end tag (ER) before the next record starts")
            chunk, start = [line], number
        elif is_end(line):
            if not chunk:
                raise ReadError(file, f"line {number}", f"end tag (ER) without a start tag ({start_tag.split()[0]})")
            chunk.append(line)
            try:
                records.append(build(chunk, len(records) + len(bad)))
            except errors as error:
                bad_record(str(error))
            chunk = []
        elif skip(line):
            continue
        elif chunk:
            chunk.append(line)
    if chunk:
        bad_record("has no end tag (ER): the file looks truncated")
    if not records and not bad:
        raise ReadError(file, "", f"no {format_name} records found (no '{start_tag}' line)")
    return records, bad


_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d)(?!\d)")


def parse_year(value: Any) -> int | None:
    """First plausible four-digit year in ``value``, as an int.

    Examples
    --------
    >>> parse_year("2019//"), parse_year("2009 Jan-Feb"), parse_year("1999.0"), parse_year("")
    (2019, 2009, 1999, None)
    """
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(int(value))
    match = _YEAR.search(str(value))
    return int(match.group(1)) if match else None


def split_list(value: str, separator: str = ";") -> tuple[str, ...]:
    """Non-empty stripped parts of a delimited cell.

    Examples
    --------
    >>> split_list("Reimer, E J; Dunn, G S;")
    ('Reimer, E J', 'Dunn, G S')
    """
    return tuple(" ".join(part.split()) for part in (value or "").split(separator) if part.strip())


_ENTITY = re.compile(r"&[#\w]+;")


def unescape_entities(text: str) -> str:
    """``text`` with its HTML entities (``&amp;``, ``&alpha;``, ``&#39;``) decoded.

    Some databases and reference managers export titles and abstracts with the
    entities of their web pages. Only complete ``&name;`` forms are decoded, so
    text such as ``R&D`` or ``&para`` is left as it is.

    Examples
    --------
    >>> unescape_entities("TNF-&alpha; &amp; IL-6 in Crohn&#39;s disease &lt;5 y, R&D &para &nosuch;")
    "TNF-α & IL-6 in Crohn's disease <5 y, R&D &para &nosuch;"
    """
    return _ENTITY.sub(lambda entity: html.unescape(entity.group(0)), text) if "&" in text else text


_DECISION_FIELDS = ("label", "reason", "stage", "reviewer", "note", "decided_at")


def decision_fields(decision: Any) -> dict[str, str]:
    """The writable fields of a decision given as a mapping or an object.

    Examples
    --------
    >>> decision_fields({"label": "exclude", "reason": "animal model"})["reason"]
    'animal model'
    >>> decision_fields(None)["label"]
    ''
    """
    if decision is None:
        return {key: "" for key in _DECISION_FIELDS}
    if isinstance(decision, Mapping):
        get = decision.get
    else:
        def get(key: str, default: Any = None) -> Any:
            return getattr(decision, key, default)
    return {key: "" if get(key, None) is None else str(get(key, None)) for key in _DECISION_FIELDS}


def label_from_decision(decision: Any) -> int | None:
    """1 for include, 0 for exclude, None when undecided."""
    label = decision_fields(decision)["label"].strip().lower()
    if label in {"include", "included", "1", "relevant", "yes"}:
        return 1
    if label in {"exclude", "excluded", "0", "irrelevant", "no"}:
        return 0
    return None


def write_target(path_or_file: PathOrFile, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to a path (with ``encoding``) or an open text/binary file."""
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, "w", encoding=encoding, newline="") as handle:
            handle.write(text)
    elif isinstance(path_or_file, (io.RawIOBase, io.BufferedIOBase)) or "b" in getattr(path_or_file, "mode", ""):
        path_or_file.write(text.encode(encoding))
    else:
        path_or_file.write(text)
