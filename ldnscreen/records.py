"""The bibliographic record: the value every stage of ldnscreen passes along.

A :class:`Record` is what a reader produces from one entry of a database
export, what the review store keeps, what deduplication compares and what the
ranker scores. It is frozen so that it can cross module boundaries safely.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from urllib.parse import unquote

__all__ = ["Provenance", "Record", "normalise_title", "normalise_doi", "family_name", "make_record_id"]


@dataclass(frozen=True)
class Provenance:
    """Where a record came from.

    Parameters
    ----------
    database : str
        The database or tool that produced the export, e.g. ``"pubmed"``,
        ``"embase"``, ``"scopus"``, ``"wos"``, ``"zotero"``, ``"csv"``.
    file : str
        The file name (not the full path) of the export.
    position : int
        Zero-based position of the record within the file.
    source_id : str
        The record's own identifier in that file or database, when it has one
        (a ``record_id`` column, a PMID, a Web of Science UT, an RIS ``ID``).
    """

    database: str
    file: str = ""
    position: int = 0
    source_id: str = ""


@dataclass(frozen=True)
class Record:
    """One citation as exported by a bibliographic database.

    Parameters
    ----------
    title : str
        Article title.
    abstract : str, default=""
        Abstract text; labelled sections of structured abstracts are joined in
        order as ``"LABEL: text"``.
    authors : tuple of str, default=()
        Authors in the order given, each as ``"Family, Given"`` where the
        export allows it.
    year : int or None, default=None
        Publication year.
    journal : str, default=""
        Journal or source title.
    doi : str, default=""
        DOI, normalised to lower case without a resolver prefix.
    pmid : str, default=""
        PubMed identifier.
    keywords : tuple of str, default=()
        Author keywords and MeSH headings.
    language : str, default=""
        Language of the article as exported (``"eng"``, ``"English"``...).
    publication_types : tuple of str, default=()
        Publication types (``"Randomized Controlled Trial"``, ``"Review"``...).
    provenance : tuple of Provenance, default=()
        Every export this record was read from; a record merged from several
        databases carries all of them.
    labels : dict of str to int, default={}
        Labels carried by the input file itself (``label_included``,
        ``label_abstract_screening``), used by simulation and label import.
    id : str, default=""
        Stable identifier. Left empty, it is derived from the bibliographic
        content by :func:`make_record_id`, so the same citation read twice
        gets the same id.

    Examples
    --------
    >>> r = Record(title="Low-dose naltrexone for fibromyalgia", year=2013)
    >>> r.id == make_record_id(r)
    True
    >>> r.id.startswith("r")
    True
    """

    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    year: int | None = None
    journal: str = ""
    doi: str = ""
    pmid: str = ""
    keywords: tuple[str, ...] = ()
    language: str = ""
    publication_types: tuple[str, ...] = ()
    provenance: tuple[Provenance, ...] = ()
    labels: dict[str, int] = field(default_factory=dict, hash=False, compare=False)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", make_record_id(self))

    @property
    def text(self) -> str:
        """Title and abstract joined, the text a reviewer reads."""
        return f"{self.title}\n{self.abstract}" if self.abstract else self.title

    @property
    def first_author(self) -> str:
        """Family name of the first author, or ``""``."""
        return family_name(self.authors[0]) if self.authors else ""

    @property
    def databases(self) -> tuple[str, ...]:
        """Distinct source databases, in the order first seen."""
        return tuple(dict.fromkeys(p.database for p in self.provenance))

    @property
    def completeness(self) -> int:
        """How many bibliographic fields are filled; used to pick a primary record."""
        return sum(
            bool(v)
            for v in (
                self.title,
                self.abstract,
                self.authors,
                self.year,
                self.journal,
                self.doi,
                self.pmid,
                self.keywords,
                self.language,
                self.publication_types,
            )
        ) + min(len(self.abstract) // 500, 3)

    def replace(self, **changes) -> "Record":
        """A copy with ``changes`` applied (the id is kept unless changed)."""
        return replace(self, **changes)


_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
# A DOI is "10.", a registrant code of digits, "/" and a suffix; exports wrap it in resolver
# URLs ("doi.org/...", "https://www.doi.org/..."), labels ("DOI 10...", "DOI: 10...") and
# tags ("10... [doi]", MEDLINE's AID).
_DOI = re.compile(r"10\.\d{4,9}/\S+")
# Invisible characters pasted in with a DOI (zero-width space and joiners, word joiner,
# byte-order mark, soft hyphen) would make one DOI look like two.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")


# For ASCII text normalise_title comes down to: lower case, every character that is
# neither a word character nor a space (and "_") becomes a space, spaces collapse.
_ASCII_PUNCTUATION = {
    code: " " for code in range(128) if chr(code) == "_" or not re.match(r"[\w\s]", chr(code))
}


def normalise_title(title: str) -> str:
    """Lower-case, accent-free, punctuation-free title with single spaces.

    Examples
    --------
    >>> normalise_title("Low-Dose Naltrexone (LDN): a Pilot Study.")
    'low dose naltrexone ldn a pilot study'
    >>> normalise_title("Naltrexona en el síndrome de dolor")
    'naltrexona en el sindrome de dolor'
    """
    title = title or ""
    if title.isascii():  # fast path, same result
        return " ".join(title.lower().translate(_ASCII_PUNCTUATION).split())
    text = unicodedata.normalize("NFKD", title)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = _PUNCT.sub(" ", text).replace("_", " ")
    return _SPACE.sub(" ", text).strip()


def normalise_doi(doi: str) -> str:
    """DOI in lower case without resolver prefix, label or trailing punctuation.

    Percent-encoding (``10.1093%2Fpm``) is decoded and invisible characters
    are removed; when the value holds a ``10.NNNN/suffix`` DOI, that is kept
    and whatever surrounds it (``doi.org/``, ``DOI:``, `` [doi]``) dropped.
    Any difference in DOI keeps two records apart, so every form of one DOI
    must come out the same.

    Examples
    --------
    >>> normalise_doi("https://doi.org/10.1007/S10067-013-2446-X.")
    '10.1007/s10067-013-2446-x'
    >>> forms = ["doi.org/10.1093/pm/pnaa901", "https://www.doi.org/10.1093/pm/pnaa901",
    ...          "http://dx.doi.org/10.1093/pm/pnaa901", "10.1093/pm/pnaa901 [doi]", "DOI 10.1093/pm/pnaa901",
    ...          "DOI: 10.1093/PM/pnaa901", "https://doi.org/10.1093%2Fpm%2Fpnaa901", "10.1093/pm/pnaa901\u200b"]
    >>> {normalise_doi(doi) for doi in forms}
    {'10.1093/pm/pnaa901'}
    """
    doi = _INVISIBLE.sub("", unquote(doi or "")).strip()
    match = _DOI.search(doi)
    doi = match.group(0) if match else _DOI_PREFIX.sub("", doi)
    return doi.strip().rstrip(".;,").lower()


def _looks_like_initials(token: str) -> bool:
    return 1 <= len(token) <= 3 and token.isalpha() and token.isupper()


def family_name(author: str) -> str:
    """Family name of one author, whatever the export's format.

    Handles ``"Younger, Jarred"`` (RIS, Web of Science), ``"Younger J"`` and
    ``"Younger JA"`` (MEDLINE ``AU``), ``"J. A. Younger"`` and ``"Jarred Younger"``.

    Examples
    --------
    >>> [family_name(a) for a in ("Younger, Jarred", "Younger J", "J. A. Younger", "Jarred Younger")]
    ['Younger', 'Younger', 'Younger', 'Younger']
    >>> family_name("Le Chevalier T")
    'Le Chevalier'
    """
    author = (author or "").strip()
    if not author:
        return ""
    if "," in author:
        return author.split(",")[0].strip()
    tokens = author.replace(".", " ").split()
    initials = [_looks_like_initials(t) for t in tokens]
    if len(tokens) == 1:
        return tokens[0]
    if initials[-1] and not initials[0]:
        return " ".join(t for t, is_initial in zip(tokens, initials) if not is_initial)
    if initials[0] and initials[-1]:
        return max(tokens, key=len)
    return tokens[-1]


def make_record_id(record: Record) -> str:
    """Content-derived stable id: the same citation always gets the same id.

    The id hashes the normalised title, abstract, year, DOI, PMID and first
    author, so re-reading an export (or the same citation in two copies of
    one export) gives the same id, while different citations differ.
    """
    key = "\x1f".join(
        (
            normalise_title(record.title),
            normalise_title(" ".join(record.abstract.split())[:2000]),
            str(record.year or ""),
            normalise_doi(record.doi),
            (record.pmid or "").strip(),
            normalise_title(record.first_author),
        )
    )
    return "r" + hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()
