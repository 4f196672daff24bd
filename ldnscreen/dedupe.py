"""Find the same citation exported by several databases, and merge it.

A search run in PubMed, Embase, Scopus and Web of Science returns the same
article several times, each export spelling it a little differently. This
module groups those records in stages, from the most to the least certain:

1. ``"doi"`` and ``"pmid"``: the same normalised DOI or the same PMID (a
   DOI shared by two unrelated titles, as a book's DOI given to its chapters,
   does not count, nor one shared by two different titles with other first
   authors or abstracts, as a supplement's DOI given to its conference abstracts).
2. ``"title+year+author"``: the same normalised title
   (:func:`~ldnscreen.records.normalise_title`), years at most one apart (e-pub
   and print) and the same first author's family name. A missing year or
   author is tolerated when the title has 30+ characters and four words
   besides stop words, or when another field (year, author, abstract) agrees.
3. ``"fuzzy-title"``: titles within ``fuzzy_threshold`` of each other
   (:func:`rapidfuzz.fuzz.ratio`), compared only within blocks of records
   sharing a key (first words, first and last 20 letters, rarest words, first
   author), so that 100,000 records take seconds; the year, the first author
   or the abstract must agree as well. ``"truncated-title"``: a title of 30+
   characters that begins another (databases cut long titles or drop
   subtitles), with the same first author or abstract, and not the beginning
   of two different titles.

Every title-based link must also pass the guards against false positives:
two different DOIs or two different PMIDs never match, nor do years more than
one apart, different first authors, different abstracts unless the first
authors agree (or, for titles that are not identical, whatever the authors),
different numbers in the title ("Part 1" and "Part 2", "part A" and "part
B"), a notice and the article it is about, or a conference abstract and a
record not typed so (the paper that followed it) unless their abstracts
agree. Titles that are not identical
and whose abstracts do not agree must not differ by a word that is no
misspelling of one in the other ("in adults" and "in children"), and a title
that is another's beginning must not add a word of another report of the
study ("protocol", "follow-up", "secondary", "erratum").
Notices (``"Erratum"``, ``"Reply to"``, ``"Re:"``, or a publication type
such as Erratum, Retraction of Publication or Comment) must agree exactly on title, year and
first author; short titles (under 20 characters or three words) on title and
first author, and on year or abstract. Links are joined with union-find,
which refuses any union that would put two DOIs, two PMIDs or (for title
rules) years more than one apart in the same group.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from ldnscreen.io.base import unescape_entities
from ldnscreen.records import Provenance, Record, family_name, normalise_doi, normalise_title

__all__ = [
    "RULES",
    "DuplicateLink",
    "DuplicateGroup",
    "find_duplicates",
    "merge_group",
    "first_author_family",
]

#: The rules that can join two records, from the most to the least certain.
RULES: tuple[str, ...] = ("doi", "pmid", "title+year+author", "fuzzy-title", "truncated-title")
_RULE_RANK = {rule: rank for rank, rule in enumerate(RULES)}


@dataclass(frozen=True)
class DuplicateLink:
    """Two records that one rule judged to be the same citation.

    Parameters
    ----------
    first_id, second_id : str
        Record ids, ``first_id < second_id``.
    rule : str
        One of :data:`RULES`.
    score : float
        Title similarity in ``[0, 1]`` (1.0 for identifier and exact-title rules).
    """

    first_id: str
    second_id: str
    rule: str
    score: float


@dataclass(frozen=True)
class DuplicateGroup:
    """Records judged to be one citation.

    Parameters
    ----------
    primary_id : str
        The record to keep: the most complete (:attr:`Record.completeness`),
        ties going to the record that came first in the input.
    member_ids : tuple of str
        Every record in the group, the primary first, the others by id.
    rule : str
        The least certain rule among the links that built the group: a group
        held together by one ``"fuzzy-title"`` link is as strong as that link.
    score : float
        The lowest link score in the group.
    links : tuple of DuplicateLink
        The links that joined the group (a spanning tree of it).
    """

    primary_id: str
    member_ids: tuple[str, ...]
    rule: str
    score: float
    links: tuple[DuplicateLink, ...] = ()

    @property
    def duplicate_ids(self) -> tuple[str, ...]:
        """The members other than the primary: the records a merge retires."""
        return self.member_ids[1:]


# --------------------------------------------------------------------------- features

_STOP_WORDS = frozenset(
    "a an and are as at by for from in into is of on or the to with within without "
    "versus vs via its their than that this these those be been was were".split()
)
# Notices that repeat (part of) the title of the article they are about: the
# first word, or the first two words, of the normalised title.
_NOTICE_STARTS = frozenset(
    "erratum errata corrigendum corrigenda retraction retracted withdrawn addendum reply "
    "correction_to corrections_to response_to comment_on comments_on commentary_on "
    "reply_to in_reply letter_to notice_of expression_of editorial_comment".split()
)
# Publication types (PubMed, Embase, Web of Science) of a notice about another article, which
# repeats its title: such a record is that notice whatever its title says (as the title's notice).
_NOTICE_TYPES = {
    "erratum": "erratum", "published erratum": "erratum", "correction": "erratum", "corrigendum": "erratum",
    "retraction": "retraction", "retraction of publication": "retraction", "retraction notice": "retraction",
    "expression of concern": "expression_of",
}  # (not PubMed's "Comment": a letter typed so in PubMed is a plain Letter in Embase)
# Words that, added to a title, make it another report of the same study: a trial's protocol,
# its follow-up or secondary analysis. A title that is another's beginning plus one of these
# (Scopus' "...: a systematic review" and "...: a systematic review protocol") is not cut short.
_OTHER_REPORT_WORDS = frozenset(
    "protocol protocols follow followup extension update updated secondary post hoc subgroup interim "
    "rationale design erratum corrigendum correction retraction reply response comment commentary".split()
)
# Embase's "Conference Abstract", Web of Science's "Meeting Abstract", Scopus' "Conference Paper"
_MEETING = re.compile(r"\b(?:conferences?|meetings?|congress(?:es)?|proceedings)\b", re.IGNORECASE)
_ROMAN = frozenset("ii iii iv vi vii viii ix xi xii".split())
_PART_WORDS = frozenset("part phase section chapter volume stage".split())  # "part A"
_DIGITS = re.compile(r"\d+")
_MIN_TITLE_CHARS = 20  # shorter titles need an exact title, the same author, and year or abstract
_MIN_CONTENT_WORDS = 3
_MIN_PREFIX_CHARS = 30  # a truncated title must keep at least this much
_MIN_ALONE_CHARS = 30  # an identical title this long (and 4+ words) needs no other field


# Letters that accents-stripping leaves as they are, spelt as other exports spell them: PubMed
# keeps "TNF-α" and "Strauß" where Embase or Web of Science write "TNF-alpha" and "Strauss".
_GREEK = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega"
_SPELT = {
    **{ord(ch): f" {name} " for ch, name in zip("αβγδεζηθικλμνξοπρστυφχψω", _GREEK.split())},
    **{ord(ch): f" {name} " for ch, name in zip("ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ", _GREEK.split())},
    ord("ς"): " sigma ", ord("µ"): " mu ",  # (final sigma; the micro sign)
    ord("ß"): "ss", ord("æ"): "ae", ord("Æ"): "ae", ord("œ"): "oe", ord("Œ"): "oe", ord("ø"): "o", ord("Ø"): "o",
    ord("ł"): "l", ord("Ł"): "l", ord("đ"): "d", ord("Đ"): "d", ord("þ"): "th", ord("Þ"): "th", ord("ı"): "i",
}


def _normalise(text: str) -> str:
    """:func:`~ldnscreen.records.normalise_title`, with Greek letters and ß, æ, ø, ł... spelt out.

    (Only for matching here: record ids keep ``normalise_title`` as it is.)

    Examples
    --------
    >>> _normalise("TNF-α and IL-1β"), _normalise("TNF-alpha and IL-1beta")
    ('tnf alpha and il 1 beta', 'tnf alpha and il 1beta')
    >>> _normalise("Strauß, Łoś, Bæk"), _normalise("Crohn&#39;s &amp; TNF-&alpha;")
    ('strauss los baek', 'crohn s tnf alpha')
    """
    if text:  # HTML entities some exports leave ("Crohn&#39;s", "&alpha;"), as the readers decode them
        text = unescape_entities(text)
    if text and not text.isascii():
        text = text.translate(_SPELT)
    return normalise_title(text)


def first_author_family(author: str) -> str:
    """Family name of one author, whatever the export's format, as a matching key.

    Handles ``"Younger, Jarred"``, ``"Younger J"``, ``"Younger JA"``,
    ``"J. A. Younger"`` and ``"Jarred Younger"``. The key is the last word of
    the accent-free lower-cased family name, so ``"Le Chevalier, T"`` and
    ``"T Le Chevalier"`` agree.

    Parameters
    ----------
    author : str
        One author as exported.

    Returns
    -------
    str
        The key, or ``""`` for an empty author.

    Examples
    --------
    >>> [first_author_family(a) for a in ("Younger, Jarred", "Younger J", "Jarred Younger")]
    ['younger', 'younger', 'younger']
    >>> first_author_family("Juan García, F J"), first_author_family("F J Juan Garcia")
    ('garcia', 'garcia')
    """
    family = family_name(author)
    words = _normalise(family).split()
    return words[-1] if words else ""


def _notice(words: list[str], raw_title: str = "", types: Sequence[str] = ()) -> str:
    for start in ("_".join(words[:2]), "".join(words[:1])):
        if start in _NOTICE_STARTS:
            return start
    if raw_title.lstrip().lower().startswith("re:"):  # a letter: "Re: <the article's title>"
        return "re"
    for kind in types:
        notice = _NOTICE_TYPES.get(_normalise(kind))
        if notice:
            return notice
    return ""


@dataclass
class _Features:
    """What the comparisons need from each record, computed once."""

    ids: list[str]
    positions: list[int]
    titles: list[str]
    dois: list[str]
    pmids: list[str]
    years: list[int | None]
    authors: list[tuple[str, ...]]  # family keys of the first three authors
    abstracts: list[str]  # raw abstracts; normalised on demand by _abstract_start
    numbers: list[tuple[str, ...]]
    notices: list[str]
    meetings: list[bool]  # typed a conference or meeting abstract (or paper) by its database
    content: list[list[str]]  # title words without stop words
    abstract_starts: dict[int, str] = field(default_factory=dict)


def _features(records: Sequence[Record], positions: Sequence[int]) -> _Features:
    families: dict[str, str] = {}  # authors recur: compute each key once
    titles, numbers, notices, content, authors, abstracts, meetings = [], [], [], [], [], [], []
    for record in records:
        title = _normalise(record.title)
        words = title.split()
        titles.append(title)
        # digits are read across word boundaries so that "COX-2" and "COX2" agree
        found = _DIGITS.findall(title.replace(" ", "")) + [w for w in words if w in _ROMAN]
        found += [w for before, w in zip(words, words[1:]) if before in _PART_WORDS]
        numbers.append(tuple(sorted(found)))
        notices.append(_notice(words, record.title or "", record.publication_types))
        meetings.append(any(_MEETING.search(kind) for kind in record.publication_types))
        content.append([w for w in words if w not in _STOP_WORDS])
        keys = []
        for author in record.authors[:3]:
            if author not in families:
                families[author] = first_author_family(author)
            if families[author]:
                keys.append(families[author])
        authors.append(tuple(keys))
        abstracts.append(record.abstract)
    return _Features(
        ids=[r.id for r in records],
        positions=list(positions),
        titles=titles,
        dois=[normalise_doi(r.doi) for r in records],
        pmids=[(r.pmid or "").strip() for r in records],
        years=[r.year or None for r in records],
        authors=authors,
        abstracts=abstracts,
        numbers=numbers,
        notices=notices,
        meetings=meetings,
        content=content,
    )


# --------------------------------------------------------------------------- pair rules

_MATCH, _UNKNOWN, _CONFLICT = 1, 0, -1


def _author_agreement(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    if not a or not b:
        return _UNKNOWN
    if a[0] == b[0]:
        return _MATCH
    # a group author or a reordered first author in one export
    if a[0] in b or b[0] in a:
        return _MATCH
    if len(a[0]) >= 5 and len(b[0]) >= 5 and fuzz.ratio(a[0], b[0]) >= 80:
        return _MATCH  # transliteration: kroeger / kroger
    return _CONFLICT


def _year_agreement(a: int | None, b: int | None) -> int:
    if a is None or b is None:
        return _UNKNOWN
    if a == b:
        return _MATCH
    return _UNKNOWN if abs(a - b) == 1 else _CONFLICT


def _abstract_start(f: _Features, i: int) -> str:
    if i not in f.abstract_starts:
        f.abstract_starts[i] = _normalise(f.abstracts[i][:400])[:300]
    return f.abstract_starts[i]


def _abstracts_agree(f: _Features, i: int, j: int) -> bool:
    a, b = _abstract_start(f, i), _abstract_start(f, j)
    if len(a) < 100 or len(b) < 100:
        return False
    return fuzz.ratio(a, b) >= 85


def _abstracts_disagree(f: _Features, i: int, j: int) -> bool:
    a, b = _abstract_start(f, i), _abstract_start(f, j)
    if len(a) < 100 or len(b) < 100:
        return False
    return fuzz.ratio(a, b) < 60


def _identifier_conflict(f: _Features, i: int, j: int) -> bool:
    if f.dois[i] and f.dois[j] and f.dois[i] != f.dois[j]:
        return True
    return bool(f.pmids[i] and f.pmids[j] and f.pmids[i] != f.pmids[j])


def _is_weak_title(f: _Features, i: int) -> bool:
    return bool(
        len(f.titles[i]) < _MIN_TITLE_CHARS
        or len(f.content[i]) < _MIN_CONTENT_WORDS
    )


def _title_link(f: _Features, i: int, j: int, rule: str, score: float) -> DuplicateLink | None:
    """Apply the false-positive guards to a title-based candidate pair."""
    if _identifier_conflict(f, i, j):
        return None
    if f.notices[i] != f.notices[j]:
        return None
    years = _year_agreement(f.years[i], f.years[j])
    authors = _author_agreement(f.authors[i], f.authors[j])
    if years == _CONFLICT or authors == _CONFLICT:
        return None
    exact = f.titles[i] == f.titles[j]
    if f.notices[i]:
        # a notice agrees with another on everything or it is another notice
        if not (exact and years == _MATCH and authors == _MATCH):
            return None
    elif _is_weak_title(f, i) or _is_weak_title(f, j):
        if not (exact and authors == _MATCH and (years == _MATCH or _abstracts_agree(f, i, j))):
            return None
    if rule == "truncated-title":
        short, long_ = sorted((f.numbers[i], f.numbers[j]), key=len)
        if not set(short) <= set(long_):
            return None
    elif f.numbers[i] != f.numbers[j]:
        return None
    abstracts_agree = _abstracts_agree(f, i, j)
    if f.meetings[i] != f.meetings[j] and not abstracts_agree:
        return None  # a conference abstract and the paper that followed it: two reports
    if authors != _MATCH and not abstracts_agree and _abstracts_disagree(f, i, j):
        return None  # "Gastroesophageal reflux disease." by two different teams
    corroborated = years == _MATCH or authors == _MATCH or abstracts_agree
    if exact:
        # A long identical title needs no further support; a generic one does.
        if not corroborated and (
            len(f.titles[i]) < _MIN_ALONE_CHARS or len(f.content[i]) < _MIN_CONTENT_WORDS + 1
        ):
            return None
    elif not corroborated:
        return None
    if not exact and not abstracts_agree:
        if _abstracts_disagree(f, i, j):
            return None  # the same team's trial in women and in men: similar titles, other abstracts
        if rule == "truncated-title":
            # the same first author: a co-author's related report is not enough
            if not (f.authors[i] and f.authors[j] and f.authors[i][0] == f.authors[j][0]):
                return None
            short, long_ = sorted((f.titles[i], f.titles[j]), key=len)
            if _OTHER_REPORT_WORDS.intersection(long_[len(short):].split()):
                return None  # "...: a systematic review" and "...: a systematic review protocol"
        elif _other_words(f.titles[i].split(), f.titles[j].split()):
            return None  # "... in adults: a pilot study" and "... in children: a pilot study"
    a, b = sorted((f.ids[i], f.ids[j]))
    return DuplicateLink(a, b, rule, round(float(score), 4))


def _other_words(a: Sequence[str], b: Sequence[str]) -> bool:
    """Does one title put another word where the other has a different one, or add a word of another report?

    Words that are spellings of each other match: one letter added, dropped, changed or
    swapped with its neighbour (a typo: lwo / low; a space moved: "th elessons" / "the
    lessons"), British and American spellings (sulphasalazine / sulfasalazine, programme /
    program, manoeuvres / maneuvers), words run together or split (cross over /
    crossover, IL 1beta / IL 1 beta), and stop words (& / and, vs / versus) are left out.
    What remains decides: a word in each title with no spelling of it in the other
    ("adults" / "children", "women" / "men", "hypertension" / "hypotension") is two
    studies, and so is a word only one title adds when it names another report
    ("protocol", "follow-up"); other additions ("(LDN)") are not. (A one-letter change
    can be another word too, "rats" and "cats": such pairs still merge when nothing else
    tells them apart.)

    Examples
    --------
    >>> _other_words("randomised trial of oesophageal cancer".split(), "randomized trial of esophageal cancer".split())
    False
    >>> _other_words("ldn in crohn disease in adults".split(), "ldn in crohn disease in children".split())
    True
    >>> _other_words("long term follow up".split(), "long term followup".split())
    False
    >>> _other_words("th elessons of life".split(), "the lessons of life".split())
    False
    >>> _other_words("ldn for fibromyalgia in women".split(), "ldn for fibromyalgia in men".split())
    True
    >>> _other_words("sulphasalazine in paediatric crohn disease a crossover trial".split(),
    ...              "sulfasalazine in pediatric crohn disease a cross over trial".split())
    False
    >>> _other_words("ldn ldn for fibromyalgia".split(), "ldn for fibromyalgia".split()), _other_words(
    ...     "ldn for back pain a review".split(), "ldn for back pain a review protocol".split())
    (False, True)
    """
    a, b = _word_parts(a), _word_parts(b)
    if "".join(a) == "".join(b):  # words run together or split apart
        return False
    only_a = {w for w in set(a) - set(b) if w not in _STOP_WORDS}
    only_b = {w for w in set(b) - set(a) if w not in _STOP_WORDS}
    # words split in one title and run together in the other: "cross over" / "crossover"
    for words, mine, theirs in ((a, only_a, only_b), (b, only_b, only_a)):
        for first, second in zip(words, words[1:]):
            if first + second in theirs:
                theirs.discard(first + second)
                mine.difference_update((first, second))
    unmatched_a = {w for w in only_a if not any(_spelling(w, other) for other in set(b))}
    unmatched_b = {w for w in only_b if not any(_spelling(w, other) for other in set(a))}
    if unmatched_a and unmatched_b:
        return True
    return bool(_OTHER_REPORT_WORDS & (unmatched_a | unmatched_b))


_NUMBER_EDGE = re.compile(r"(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)")
# British spellings written the American way, for comparing two words only
_BRITISH = (("ae", "e"), ("oe", "e"), ("ph", "f"), ("mme", "m"), ("our", "or"), ("isation", "ization"),
            ("ise", "ize"), ("yse", "yze"), ("tre", "ter"))


def _word_parts(words: Sequence[str]) -> list[str]:
    """Words with digits and letters split apart: "1beta" / "1 beta", "il1" / "il 1"."""
    return [part for word in words for part in _NUMBER_EDGE.split(word)]


def _spelling(word: str, other: str) -> bool:
    """Is ``word`` a spelling of ``other``: at most one edit apart, as written or spelt the American way?"""
    if OSA.distance(word, other, score_cutoff=1) <= 1:
        return True
    for british, american in _BRITISH:
        word, other = word.replace(british, american), other.replace(british, american)
    return OSA.distance(word, other, score_cutoff=1) <= 1


def _link(f: _Features, i: int, j: int, rule: str, score: float = 1.0) -> DuplicateLink:
    a, b = sorted((f.ids[i], f.ids[j]))
    return DuplicateLink(a, b, rule, score)


# --------------------------------------------------------------------------- stages


def _identifier_links(f: _Features) -> list[tuple[DuplicateLink, int, int]]:
    links = []
    for rule, values in (("doi", f.dois), ("pmid", f.pmids)):
        by_value: dict[str, list[int]] = defaultdict(list)
        for i, value in enumerate(values):
            if value:
                by_value[value].append(i)
        for members in by_value.values():
            # link each record to the first earlier one it does not contradict
            for x, j in enumerate(members[1:], start=1):
                for i in members[:x]:
                    if _identifier_conflict(f, i, j):
                        continue
                    if rule == "doi" and (_unrelated_titles(f, i, j) or _other_paper_same_doi(f, i, j)):
                        continue
                    links.append((_link(f, i, j, rule), i, j))
                    break
    return links


def _unrelated_titles(f: _Features, i: int, j: int) -> bool:
    """Titles sharing too few words to be one article: a book's or a proceedings' DOI
    given to each chapter or paper."""
    a, b = f.titles[i], f.titles[j]
    if len(a) < _MIN_TITLE_CHARS or len(b) < _MIN_TITLE_CHARS:
        return False
    return fuzz.token_set_ratio(a, b) < 50


def _other_paper_same_doi(f: _Features, i: int, j: int) -> bool:
    """Two papers of one supplement or proceedings that carry its DOI (Embase's conference
    abstracts): titles that are not one title, and other first authors or other abstracts."""
    a, b = f.titles[i], f.titles[j]
    if not a or not b or a.startswith(b) or b.startswith(a) or fuzz.ratio(a, b) >= 90:
        return False
    return _author_agreement(f.authors[i], f.authors[j]) == _CONFLICT or _abstracts_disagree(f, i, j)


def _exact_title_links(f: _Features) -> list[tuple[DuplicateLink, int, int]]:
    by_title: dict[str, list[int]] = defaultdict(list)
    for i, title in enumerate(f.titles):
        if title:
            by_title[title].append(i)
    links = []
    for members in by_title.values():
        if len(members) > _MAX_BLOCK // 10:
            # a title hundreds of records share ("Editorial") only matches with an author
            by_author: dict[str, list[int]] = defaultdict(list)
            for i in members:
                if f.authors[i]:
                    by_author[f.authors[i][0]].append(i)
            groups = list(by_author.values())
        else:
            groups = [members]
        links.extend(_pairs_within(f, groups))
    return links


def _pairs_within(f: _Features, groups: list[list[int]]) -> list[tuple[DuplicateLink, int, int]]:
    links = []
    for members in groups:
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                link = _title_link(f, i, j, "title+year+author", 1.0)
                if link is not None:
                    links.append((link, i, j))
    return links


def _blocking_keys(f: _Features, i: int, rarity: dict[str, int]) -> list[str]:
    words = f.content[i]
    if len(words) < _MIN_CONTENT_WORDS:
        return []
    letters = f.titles[i].replace(" ", "")
    keys = [
        "p:" + " ".join(words[:3]),  # survives truncation and late typos
        # word boundaries ignored: survive "low-dose" / "lowdose" / "low dose"
        "b:" + letters[:20],  # survives truncation and late typos
        "e:" + letters[-20:],  # survives early typos
    ]
    if f.authors[i]:
        # short titles, where one typo spoils every title key
        keys.append("a:" + f.authors[i][0] + " " + letters[:2])
    if len(words) >= 5:
        keys.append("q:" + " ".join(words[3:6]))  # survives a typo in the first words
    rare = sorted(sorted(set(words)), key=rarity.__getitem__)[:2]  # stable: ties by word
    keys.append("r:" + " ".join(sorted(rare)))  # survives reordering and early truncation
    return keys


_MAX_BLOCK = 2000  # a blocking key shared by more records than this is too generic to use


def _candidate_pairs(f: _Features) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, that share at least one blocking key."""
    rarity: dict[str, int] = defaultdict(int)
    for words in f.content:
        for w in set(words):
            rarity[w] += 1
    blocks: dict[str, list[int]] = defaultdict(list)
    for i in range(len(f.titles)):
        for key in _blocking_keys(f, i, rarity):
            blocks[key].append(i)  # ascending, so i < j within each pair below
    n = len(f.titles)
    small: list[int] = []  # pairs of two-member blocks, encoded as i * n + j
    large: list[np.ndarray] = []
    upper: dict[int, np.ndarray] = {}
    for members in blocks.values():
        size = len(members)
        if size < 2:
            continue
        if size <= 8:  # cheaper in Python than in numpy
            small.extend(i * n + j for x, i in enumerate(members) for j in members[x + 1 :])
        elif size <= _MAX_BLOCK:
            if size not in upper:
                rows, cols = np.triu_indices(size, k=1)
                upper[size] = np.stack((rows, cols))
            indices = np.asarray(members, dtype=np.int64)
            large.append(indices[upper[size][0]] * n + indices[upper[size][1]])
    codes = np.unique(np.concatenate([np.asarray(small, dtype=np.int64), *large]))
    return np.stack(np.divmod(codes, n), axis=1)


def _fuzzy_links(
    f: _Features, threshold: float, progress_callback=None
) -> list[tuple[DuplicateLink, int, int]]:
    pairs = _candidate_pairs(f)
    links = []
    step = 200_000
    for start in range(0, len(pairs), step):
        if progress_callback is not None:
            progress_callback(start, len(pairs))
        chunk = pairs[start : start + step]
        scores = process.cpdist(
            [f.titles[i] for i in chunk[:, 0]],
            [f.titles[j] for j in chunk[:, 1]],
            scorer=fuzz.ratio,
            score_cutoff=threshold * 100,
            dtype=np.float32,
        )
        for (i, j), score in zip(chunk[scores > 0].tolist(), scores[scores > 0].tolist()):
            if f.titles[i] == f.titles[j]:
                continue  # the exact-title stage has judged this pair
            link = _title_link(f, i, j, "fuzzy-title", score / 100)
            if link is not None:
                links.append((link, i, j))
    if progress_callback is not None:
        progress_callback(len(pairs), len(pairs))
    return links


def _truncated_links(f: _Features) -> list[tuple[DuplicateLink, int, int]]:
    """Titles that are a prefix of a longer title: found by sorting, no blocking needed.

    A prefix shared by two different longer titles ("... sumatriptan. II" and
    "... sumatriptan. IV") is ambiguous and links to neither.
    """
    order = sorted(range(len(f.titles)), key=lambda i: (f.titles[i], f.ids[i]))
    links = []
    for x, i in enumerate(order):
        short = f.titles[i]
        if len(short) < _MIN_PREFIX_CHARS or len(f.content[i]) < _MIN_CONTENT_WORDS:
            continue
        found = []
        for j in order[x + 1 : x + 51]:
            long_ = f.titles[j]
            if not long_.startswith(short):
                break
            if long_ == short:
                continue
            link = _title_link(f, i, j, "truncated-title", 1.0)
            if link is not None:
                score = 0.9 + 0.1 * len(short) / len(long_)
                found.append((replace(link, score=round(score, 4)), i, j))
        longer = sorted({f.titles[j] for _, _, j in found}, key=len)
        if all(b.startswith(a) for a, b in zip(longer, longer[1:])):
            links.extend(found)
    return links


# --------------------------------------------------------------------------- union-find


class _Components:
    """Union-find that refuses unions mixing DOIs, PMIDs or distant years."""

    def __init__(self, f: _Features) -> None:
        self.parent = list(range(len(f.ids)))
        self.dois = list(f.dois)
        self.pmids = list(f.pmids)
        self.years: list[tuple[int, int] | None] = [(y, y) if y else None for y in f.years]

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int, check_years: bool) -> bool:
        a, b = self.find(i), self.find(j)
        if a == b:
            return False
        if self.dois[a] and self.dois[b] and self.dois[a] != self.dois[b]:
            return False
        if self.pmids[a] and self.pmids[b] and self.pmids[a] != self.pmids[b]:
            return False
        ya, yb = self.years[a], self.years[b]
        span = None
        if ya and yb:
            span = (min(ya[0], yb[0]), max(ya[1], yb[1]))
            if check_years and span[1] - span[0] > 1:
                return False
        if a > b:
            a, b = b, a
        self.parent[b] = a
        self.dois[a] = self.dois[a] or self.dois[b]
        self.pmids[a] = self.pmids[a] or self.pmids[b]
        self.years[a] = span or ya or yb
        return True


# --------------------------------------------------------------------------- public API


def find_duplicates(
    records: Iterable[Record],
    *,
    fuzzy_threshold: float = 0.9,
    progress: bool = False,
) -> list[DuplicateGroup]:
    """Group records that are the same citation.

    Parameters
    ----------
    records : iterable of Record
        Records from one or more exports. Records sharing an id are treated
        as one record (the id is content-derived).
    fuzzy_threshold : float, default=0.9
        Lowest :func:`rapidfuzz.fuzz.ratio` (scaled to ``[0, 1]``) between
        two normalised titles for the ``"fuzzy-title"`` rule.
    progress : bool, default=False
        Show a rich progress bar on standard error.

    Returns
    -------
    list of DuplicateGroup
        Groups of two or more records, ordered by primary id. The grouping
        does not depend on the order of ``records``.

    Examples
    --------
    >>> a = Record(title="Low-dose naltrexone for fibromyalgia: a pilot study.",
    ...            authors=("Younger, Jarred",), year=2009, pmid="19453963")
    >>> b = Record(title="LOW DOSE NALTREXONE FOR FIBROMYALGIA - A PILOT STUDY",
    ...            authors=("Younger J",), year=2009)
    >>> c = Record(title="Low-dose naltrexone for fibromyalgia: a pilot studdy",
    ...            authors=("Jarred Younger",), year=2010)
    >>> d = Record(title="Erratum: Low-dose naltrexone for fibromyalgia: a pilot study.",
    ...            authors=("Younger, J",), year=2010)
    >>> [group] = find_duplicates([a, b, c, d])
    >>> group.primary_id == a.id, len(group.member_ids), group.rule
    (True, 3, 'fuzzy-title')
    """
    first_position: dict[str, int] = {}
    unique: dict[str, Record] = {}
    for position, record in enumerate(records):
        if record.id not in unique:
            unique[record.id] = record
            first_position[record.id] = position
    ordered = [unique[i] for i in sorted(unique)]
    if len(ordered) < 2:
        return []
    f = _features(ordered, [first_position[r.id] for r in ordered])

    if progress:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("deduplicating: identifiers and exact titles", total=None)
            links = _identifier_links(f) + _exact_title_links(f)
            links += _truncated_links(f)

            def report(done: int, total: int) -> None:
                bar.update(task, description="deduplicating: fuzzy titles", completed=done, total=total)

            links += _fuzzy_links(f, fuzzy_threshold, report)
    else:
        links = _identifier_links(f) + _exact_title_links(f) + _truncated_links(f)
        links += _fuzzy_links(f, fuzzy_threshold)
    return _groups(f, ordered, links)


def _groups(
    f: _Features, ordered: list[Record], links: list[tuple[DuplicateLink, int, int]]
) -> list[DuplicateGroup]:
    # strongest rules first, so that a weak link never blocks a strong one
    links.sort(key=lambda item: (_RULE_RANK[item[0].rule], -item[0].score, item[0].first_id,
                                 item[0].second_id))
    components = _Components(f)
    kept: list[tuple[DuplicateLink, int]] = []
    for link, i, j in links:
        identifier_rule = link.rule in ("doi", "pmid")
        if components.union(i, j, check_years=not identifier_rule):
            kept.append((link, i))
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(len(ordered)):
        members[components.find(i)].append(i)
    tree: dict[int, list[DuplicateLink]] = defaultdict(list)
    for link, i in kept:
        tree[components.find(i)].append(link)
    groups = []
    for root, indices in members.items():
        if len(indices) < 2:
            continue
        primary = min(indices, key=lambda i: (-ordered[i].completeness, f.positions[i], f.ids[i]))
        group_links = tuple(sorted(tree[root], key=lambda l: (l.first_id, l.second_id)))
        weakest = max(group_links, key=lambda l: (_RULE_RANK[l.rule], -l.score))
        others = sorted(f.ids[i] for i in indices if i != primary)
        groups.append(
            DuplicateGroup(
                primary_id=f.ids[primary],
                member_ids=(f.ids[primary], *others),
                rule=weakest.rule,
                score=min(l.score for l in group_links),
                links=group_links,
            )
        )
    groups.sort(key=lambda g: g.primary_id)
    return groups


_FILLABLE = (
    "abstract",
    "authors",
    "year",
    "journal",
    "doi",
    "pmid",
    "keywords",
    "language",
    "publication_types",
)


def merge_group(records: Sequence[Record], primary_id: str | None = None) -> Record:
    """One record for a group of duplicates.

    The primary record (``primary_id``, or else the most complete record,
    ties going to the first) keeps its id and its fields; each empty field is
    filled from the first other record that has it; the provenance is the
    union of every record's provenance, in order, without repeats; labels
    are combined, the primary's winning.

    Parameters
    ----------
    records : sequence of Record
        The records of one :class:`DuplicateGroup`.
    primary_id : str, optional
        The group's :attr:`DuplicateGroup.primary_id`.

    Returns
    -------
    Record

    Raises
    ------
    ValueError
        If ``records`` is empty or ``primary_id`` is not among them.

    Examples
    --------
    >>> from ldnscreen.records import Provenance
    >>> a = Record(title="LDN in CRPS", year=2016, provenance=(Provenance("pubmed"),))
    >>> b = Record(title="LDN in CRPS.", doi="10.1/x", provenance=(Provenance("embase"),))
    >>> merged = merge_group([a, b], primary_id=a.id)
    >>> merged.id == a.id, merged.doi, merged.databases
    (True, '10.1/x', ('pubmed', 'embase'))
    """
    if not records:
        raise ValueError("merge_group needs at least one record")
    if primary_id is None:
        primary = min(enumerate(records), key=lambda item: (-item[1].completeness, item[0]))[1]
    else:
        matches = [r for r in records if r.id == primary_id]
        if not matches:
            raise ValueError(f"primary id {primary_id!r} is not in the group")
        primary = matches[0]
    others = [r for r in records if r is not primary]
    changes: dict[str, object] = {}
    for name in _FILLABLE:
        if not getattr(primary, name):
            for other in others:
                value = getattr(other, name)
                if value:
                    changes[name] = value
                    break
    provenance: dict[Provenance, None] = {}
    for record in (primary, *others):
        for p in record.provenance:
            provenance.setdefault(p, None)
    labels: dict[str, int] = {}
    for record in reversed(others):
        labels.update(record.labels)
    labels.update(primary.labels)
    return replace(primary, provenance=tuple(provenance), labels=labels, **changes)
