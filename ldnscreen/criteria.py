"""A review's eligibility criteria: question, search, inclusion and exclusion reasons.

The criteria are written by the review team in a small TOML file (see
``corpora/ldn_review/criteria.toml``)::

    name = "Low-dose naltrexone for chronic pain"
    question = "Does low-dose naltrexone relieve chronic pain?"

    [search]
    query = '"low-dose naltrexone" AND ("pain" OR "fibromyalgia")'
    databases = ["PubMed", "Embase"]
    date_from = "1950-01-01"
    date_to = "2020-07-31"

    [inclusion]
    description = "Human studies of LDN given to patients with chronic pain."
    terms = ["low-dose naltrexone", "chronic pain"]

    [[exclusion]]
    reason = "review article"
    stage = "title-abstract"
    patterns = ['\\breview\\b']               # regular expressions, case-insensitive
    publication_types = ["Review"]           # matched against Record.publication_types
    requires = []                            # excluded when NONE of these match
    languages_allowed = []                   # excluded when Record.language is not one of these

``[search] records_found`` (a table of database name to count) is kept for the
PRISMA flow diagram. The ranker uses the question, the inclusion text and the
search terms as the cold-start query (:mod:`ldnscreen.prior`), and the
exclusion reasons both to push records down and to suggest a reason to the
reviewer (:meth:`Criteria.suggest_reason`).
"""

from __future__ import annotations

import datetime as _dt
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from os import PathLike
from pathlib import Path
from typing import IO, Union

from ldnscreen.records import Record

__all__ = ["Criteria", "ExclusionReason", "STAGES", "parse_search_query", "read_criteria_file", "search_clauses"]

#: The screening stages a criterion can belong to.
STAGES = ("title-abstract", "full-text")

_BOOLEAN = {"AND", "OR", "NOT", "NEAR", "ADJ", "SAME", "WITH"}
_FIELD_TAG = re.compile(r"\[[^\]]*\]|\b(?:TI|AB|TS|TITLE-ABS-KEY|KW)\s*=\s*|:(?:ti|ab|kw|de)\b", re.IGNORECASE)
_TOKEN = re.compile(r'"[^"]*"|\(|\)|[\w*?$/-]+', re.UNICODE)


def parse_search_query(query: str) -> tuple[str, ...]:
    """The phrases and terms of a boolean database search, in order, without repeats.

    Quoted phrases are kept whole; bare words are kept unless they are
    boolean operators (``AND``, ``OR``, ``NEAR/3``...). What follows ``NOT``
    (a term, a phrase or a parenthesised group) is left out: it describes
    what the review does not want. Field tags (``[tiab]``, ``TS=``) and
    truncation marks (``*``, ``?``, ``$``) are dropped.

    Parameters
    ----------
    query : str
        The search string as run in the database.

    Returns
    -------
    tuple of str
        Lower-cased phrases and terms.

    Examples
    --------
    >>> parse_search_query('"low-dose naltrexone" AND (pain[tiab] OR "chronic pain" OR fibromyalg*)')
    ('low-dose naltrexone', 'pain', 'chronic pain', 'fibromyalg')
    >>> parse_search_query('naltrexone NOT (rats OR mice) AND pain')
    ('naltrexone', 'pain')
    """
    tokens = _TOKEN.findall(_FIELD_TAG.sub(" ", query or ""))
    found: dict[str, None] = {}
    skip_depth = None  # parenthesis depth of a NOT group being skipped
    depth = 0
    skip_next = False
    for token in tokens:
        if token == "(":
            depth += 1
            if skip_next:
                skip_depth, skip_next = depth, False
            continue
        if token == ")":
            if skip_depth == depth:
                skip_depth = None
            depth = max(0, depth - 1)
            continue
        upper = token.upper()
        if upper == "NOT":
            skip_next = True
            continue
        if upper in _BOOLEAN or upper.startswith(("NEAR/", "W/", "ADJ")):
            continue
        if skip_depth is not None:
            continue
        if skip_next:
            skip_next = False
            continue
        if token.startswith('"'):
            term = token.strip('"').strip().lower()
        else:
            term = token.strip("*?$-").lower()
        if term and not term.isdigit():
            found.setdefault(term, None)
    return tuple(found)


def search_clauses(query: str) -> tuple[tuple[str, ...], ...]:
    """The top-level ``AND`` clauses of a boolean search, each as its alternative terms.

    Every record a search returns matched each clause through one of the
    clause's alternatives, so each clause is one concept of the review
    (the intervention, the condition...).

    Examples
    --------
    >>> search_clauses('"low-dose naltrexone" AND (pain OR "chronic pain" OR fibromyalgia)')
    (('low-dose naltrexone',), ('pain', 'chronic pain', 'fibromyalgia'))
    """
    tokens = _TOKEN.findall(_FIELD_TAG.sub(" ", query or ""))
    clauses: list[list[str]] = [[]]
    depth = 0
    for token in tokens:
        depth += token == "("
        depth -= token == ")"
        if depth == 0 and token.upper() == "AND":
            clauses.append([])
        else:
            clauses[-1].append(token)
    result = []
    for clause in clauses:
        terms = parse_search_query(" ".join(clause))
        if terms:
            result.append(terms)
    return tuple(result)


def _as_tuple(value, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"criteria: {key!r} must be a list of strings, got {type(value).__name__}")
    return tuple(str(v) for v in value)


def _as_date(value, key: str) -> _dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    try:
        return _dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"criteria: {key!r} is not an ISO date (YYYY-MM-DD): {value!r}") from exc


def _record_fields(record: Record | str) -> tuple[str, str, str, tuple[str, ...], str]:
    """(title, abstract, keywords text, publication types, language) of a record or text."""
    if isinstance(record, str):
        title, _, abstract = record.partition("\n")
        return title, abstract, "", (), ""
    return (
        record.title or "",
        record.abstract or "",
        "; ".join(record.keywords),
        tuple(record.publication_types),
        record.language or "",
    )


@dataclass(frozen=True)
class ExclusionReason:
    """One reason for excluding a record, with the evidence that suggests it.

    Parameters
    ----------
    reason : str
        The reason as the review reports it (``"animal model"``).
    stage : str, default="title-abstract"
        ``"title-abstract"`` or ``"full-text"``.
    patterns : tuple of str, default=()
        Regular expressions (case-insensitive); a match in the title, the
        abstract or the keywords suggests this reason.
    publication_types : tuple of str, default=()
        Publication types (case-insensitive) that suggest this reason.
    requires : tuple of str, default=()
        Regular expressions of which at least one must match; a record where
        none matches is suggested for this reason (``"not about LDN"``).
    languages_allowed : tuple of str, default=()
        When given, a record whose ``language`` is set and not in this list is
        suggested for this reason.

    Examples
    --------
    >>> reason = ExclusionReason("animal model", "full-text", patterns=(r"\\b(rats?|mice)\\b",))
    >>> reason.matches(Record(title="Naltrexone in rats"))
    True
    >>> reason.matches(Record(title="Naltrexone in fibromyalgia"))
    False
    """

    reason: str
    stage: str = "title-abstract"
    patterns: tuple[str, ...] = ()
    publication_types: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    languages_allowed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"exclusion {self.reason!r}: stage must be one of {STAGES}, got {self.stage!r}")
        for pattern in self.patterns + self.requires:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"exclusion {self.reason!r}: bad regular expression {pattern!r}: {exc}") from exc

    @cached_property
    def _compiled(self):
        flags = re.IGNORECASE | re.MULTILINE
        return (
            tuple(re.compile(p, flags) for p in self.patterns),
            tuple(re.compile(p, flags) for p in self.requires),
            frozenset(t.casefold() for t in self.publication_types),
            frozenset(lang.casefold() for lang in self.languages_allowed),
        )

    @property
    def has_evidence(self) -> bool:
        """Whether anything in the record can suggest this reason."""
        return bool(self.patterns or self.publication_types or self.requires or self.languages_allowed)

    def evidence(self, record: Record | str) -> str | None:
        """What in ``record`` suggests this reason, or ``None``.

        Returns
        -------
        {"language", "publication type", "pattern", "missing required term"} or None
        """
        patterns, requires, pub_types, languages = self._compiled
        title, abstract, keywords, record_types, language = _record_fields(record)
        if languages and language and language.strip().casefold() not in languages:
            return "language"
        if pub_types and any(t.casefold() in pub_types for t in record_types):
            return "publication type"
        fields = (title, abstract, keywords)
        if any(p.search(text) for p in patterns for text in fields if text):
            return "pattern"
        if requires and (title or abstract) and not any(p.search(text) for p in requires for text in fields if text):
            return "missing required term"
        return None

    def matches(self, record: Record | str) -> bool:
        """Whether ``record`` shows evidence for this exclusion reason (:meth:`evidence`).

        Parameters
        ----------
        record : Record or str
            A record, or a text whose first line is taken as the title.

        Returns
        -------
        bool
        """
        return self.evidence(record) is not None


@dataclass(frozen=True)
class Criteria:
    r"""Eligibility criteria of one review, read from TOML.

    Parameters
    ----------
    name : str
        Review title.
    question : str, default=""
        The review question.
    query : str, default=""
        The boolean search run in the databases.
    databases : tuple of str, default=()
        Databases searched.
    date_from, date_to : datetime.date or None
        Search date limits.
    inclusion_description : str, default=""
        Inclusion criteria in words.
    inclusion_terms : tuple of str, default=()
        Words and phrases that characterise an included record.
    exclusions : tuple of ExclusionReason, default=()
        Exclusion reasons in the order the review reports them.
    records_found : dict of str to int, default={}
        Records each database returned (for PRISMA).

    Examples
    --------
    >>> criteria = Criteria.loads('''
    ... name = "LDN for pain"
    ... [search]
    ... query = '"low-dose naltrexone" AND pain'
    ... [inclusion]
    ... terms = ["fibromyalgia"]
    ... [[exclusion]]
    ... reason = "review article"
    ... patterns = ['\\breview\\b']
    ... [[exclusion]]
    ... reason = "animal model"
    ... stage = "full-text"
    ... patterns = ['\\b(rats?|mice)\\b']
    ... ''')
    >>> criteria.reasons("title-abstract")
    ('review article',)
    >>> criteria.query_terms
    ('low-dose naltrexone', 'pain')
    >>> criteria.suggest_reason(Record(title="LDN: a narrative review"))
    'review article'
    >>> criteria.suggest_reason(Record(title="LDN in mice"), stage="full-text")
    'animal model'
    >>> criteria.suggest_reason(Record(title="LDN for fibromyalgia: a pilot trial")) is None
    True
    """

    name: str
    question: str = ""
    query: str = ""
    databases: tuple[str, ...] = ()
    date_from: _dt.date | None = None
    date_to: _dt.date | None = None
    inclusion_description: str = ""
    inclusion_terms: tuple[str, ...] = ()
    exclusions: tuple[ExclusionReason, ...] = ()
    records_found: dict[str, int] = field(default_factory=dict, hash=False, compare=False)

    # ------------------------------------------------------------------ reading
    @classmethod
    def loads(cls, text: str) -> "Criteria":
        """Criteria from TOML text.

        Raises
        ------
        ValueError
            When the TOML is malformed, ``name`` is missing, a stage is
            unknown, a date is not ISO or a regular expression does not compile.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"criteria: not valid TOML: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def load(cls, file: Union[str, PathLike, IO[str], IO[bytes]], *, encoding: str = "utf-8") -> "Criteria":
        """Criteria from a TOML file path or an open file (text or binary).

        Examples
        --------
        >>> from pathlib import Path
        >>> path = Path(__file__).resolve().parents[1] / "corpora" / "ldn_review" / "criteria.toml"
        >>> Criteria.load(path).reasons("full-text")[-1]
        'in vitro'
        """
        if hasattr(file, "read"):
            content = file.read()
            text = content.decode(encoding) if isinstance(content, bytes) else content
        else:
            with open(file, encoding=encoding) as handle:
                text = handle.read()
        return cls.loads(text)

    @classmethod
    def from_dict(cls, data: dict) -> "Criteria":
        """Criteria from the parsed TOML structure (see the module docstring)."""
        if not data.get("name"):
            raise ValueError("criteria: 'name' is required")
        search = data.get("search", {}) or {}
        inclusion = data.get("inclusion", {}) or {}
        exclusions = []
        for i, item in enumerate(data.get("exclusion", []) or []):
            if "reason" not in item:
                raise ValueError(f"criteria: exclusion #{i + 1} has no 'reason'")
            exclusions.append(
                ExclusionReason(
                    reason=str(item["reason"]),
                    stage=str(item.get("stage", "title-abstract")),
                    patterns=_as_tuple(item.get("patterns"), "patterns"),
                    publication_types=_as_tuple(item.get("publication_types"), "publication_types"),
                    requires=_as_tuple(item.get("requires"), "requires"),
                    languages_allowed=_as_tuple(item.get("languages_allowed"), "languages_allowed"),
                )
            )
        return cls(
            name=str(data["name"]).strip(),
            question=str(data.get("question", "")).strip(),
            query=str(search.get("query", "")).strip(),
            databases=_as_tuple(search.get("databases"), "databases"),
            date_from=_as_date(search.get("date_from"), "date_from"),
            date_to=_as_date(search.get("date_to"), "date_to"),
            inclusion_description=str(inclusion.get("description", "")).strip(),
            inclusion_terms=_as_tuple(inclusion.get("terms"), "terms"),
            exclusions=tuple(exclusions),
            records_found={str(k): int(v) for k, v in (search.get("records_found") or {}).items()},
        )

    # ------------------------------------------------------------------ using
    def reasons(self, stage: str | None = "title-abstract") -> tuple[str, ...]:
        """Exclusion reasons of one stage (all stages with ``stage=None``), in review order.

        Raises
        ------
        ValueError
            For an unknown stage.
        """
        if stage is not None and stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        return tuple(e.reason for e in self.exclusions if stage is None or e.stage == stage)

    def exclusions_for(self, stage: str | None = "title-abstract") -> tuple[ExclusionReason, ...]:
        """The :class:`ExclusionReason` objects of one stage (all with ``stage=None``)."""
        if stage is not None and stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        return tuple(e for e in self.exclusions if stage is None or e.stage == stage)

    def suggest_reason(self, record: Record | str, stage: str | None = "title-abstract") -> str | None:
        """The first exclusion reason of ``stage`` (in review order) that the record shows evidence for.

        Evidence is a language outside ``languages_allowed``, a listed
        publication type, a pattern match in title/abstract/keywords, or the
        absence of every ``requires`` pattern. Reasons without any evidence
        rule (``"duplicate"``) are never suggested.

        Parameters
        ----------
        record : Record or str
            The record (or its text, first line = title).
        stage : str or None, default="title-abstract"
            Stage whose reasons are considered; ``None`` for all.

        Returns
        -------
        str or None
            The reason, or ``None`` when nothing suggests exclusion.
        """
        for exclusion in self.exclusions_for(stage):
            if exclusion.has_evidence and exclusion.matches(record):
                return exclusion.reason
        return None

    @property
    def query_terms(self) -> tuple[str, ...]:
        """Phrases and terms of the search query (:func:`parse_search_query`)."""
        return parse_search_query(self.query)

    @property
    def query_clauses(self) -> tuple[tuple[str, ...], ...]:
        """Top-level ``AND`` clauses of the search query (:func:`search_clauses`)."""
        return search_clauses(self.query)

    @property
    def topic_text(self) -> str:
        """Question, inclusion description and terms, and search terms as one text."""
        parts = [self.name, self.question, self.inclusion_description, "; ".join(self.inclusion_terms), "; ".join(self.query_terms)]
        return "\n".join(p for p in parts if p)


def read_criteria_file(path: Union[str, PathLike]) -> tuple[str, "Criteria"]:
    """The text of a criteria file (TOML) and its :class:`Criteria`.

    Raises a ``ValueError`` that names the file when it cannot be read or is
    not valid criteria.

    Examples
    --------
    >>> read_criteria_file("no-such-criteria.toml")
    Traceback (most recent call last):
    ...
    ValueError: no-such-criteria.toml: cannot read the criteria file (No such file or directory)
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the criteria file ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        return text, Criteria.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
