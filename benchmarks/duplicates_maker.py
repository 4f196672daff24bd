"""Make labelled cross-database duplicates from the shared screening corpora.

The shared corpora (``shared/corpora/screening/*.csv``) are single-database
exports; real multi-database searches return each article several times,
spelled differently. This module takes real records ("originals") and makes
corrupted copies of some of them the way other databases export them:

``case``            title in upper, lower or title case
``punctuation``     hyphens, colons, brackets and the final stop changed
``typo``            one character substituted, deleted, inserted or swapped
``truncated``       title cut (WoS/Scopus length limits) or its subtitle dropped
``author-format``   ``"Younger, J A"`` as ``"Younger JA"``, ``"J. A. Younger"``, ``"YOUNGER, J A"``
``abstract``        abstract missing, re-spaced, with a copyright line or section labels
``year``            year one off (e-publication vs print); only originals with a year
``missing-ids``     otherwise unchanged, without DOI and PMID
``doi-format``      the DOI as an upper-case resolver URL, title re-cased
``pmid-kept``       PubMed's bracketed translated title, same PMID
``mixed``           case + author format + abstract + year (+ a typo half the time)

Every copy except ``doi-format`` and ``pmid-kept`` loses its DOI and PMID,
as Embase/Scopus/Web of Science exports often do, so that the title stages
are what finds it. The corpora carry no DOIs; half of the originals get a
synthetic one (``10.5555/ldnscreen.<n>``) so the DOI rule and the
different-DOI guard are exercised.

Originals are unique by PMID: the Cohen corpora share many articles, and the
first copy met is kept. Records of corpora without PMIDs are all kept, so
genuine duplicates inside a corpus stay in and show up as "false positives
between originals", to be inspected by hand.
"""

from __future__ import annotations

import csv
import random
import re
import string
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from ldnscreen.records import Provenance, Record

CORRUPTIONS = (
    "case",
    "punctuation",
    "typo",
    "truncated",
    "author-format",
    "abstract",
    "year",
    "missing-ids",
    "doi-format",
    "pmid-kept",
    "mixed",
)
_OTHER_DATABASES = ("embase", "scopus", "wos", "cinahl", "psycinfo")


def _authors(text: str) -> tuple[str, ...]:
    text = (text or "").strip()
    if not text:
        return ()
    parts = text.split(";") if ";" in text else re.split(r",| and ", text)
    return tuple(p.strip() for p in parts if p.strip())


def _year(text: str | None) -> int | None:
    try:
        return int(float(text)) if text and text.strip() else None
    except ValueError:
        return None


def load_corpus(path: Path) -> list[Record]:
    """Read one shared screening CSV into records (provenance: the corpus name)."""
    csv.field_size_limit(1 << 30)
    name = path.stem
    records = []
    with path.open(encoding="utf-8", newline="") as handle:
        for position, row in enumerate(csv.DictReader(handle)):
            title = (row.get("title") or "").strip()
            if not title:
                continue
            keywords = tuple(k.strip() for k in (row.get("keywords") or "").split(";") if k.strip())
            records.append(
                Record(
                    title=title,
                    abstract=(row.get("abstract") or "").strip(),
                    authors=_authors(row.get("authors", "")),
                    year=_year(row.get("year")),
                    pmid=(row.get("pmid") or "").strip(),
                    keywords=keywords,
                    provenance=(Provenance("pubmed" if row.get("pmid") else "csv", name + ".csv", position, row.get("record_id", "")),),
                )
            )
    return records


def load_originals(
    shared: Path, *, corpora: Sequence[str] | None = None, doi_fraction: float = 0.5, seed: int = 0
) -> list[Record]:
    """Real records from the shared corpora, unique by PMID, half given a synthetic DOI."""
    rng = random.Random(seed)
    folder = Path(shared) / "corpora" / "screening"
    paths = sorted(p for p in folder.glob("*.csv") if p.stem != "MANIFEST")
    if corpora is not None:
        paths = [p for p in paths if p.stem in set(corpora)]
    seen_pmids: set[str] = set()
    originals = []
    for path in paths:
        for record in load_corpus(path):
            if record.pmid:
                if record.pmid in seen_pmids:
                    continue
                seen_pmids.add(record.pmid)
            if rng.random() < doi_fraction:
                # an empty id is re-derived from the content, now with the DOI
                record = record.replace(doi=f"10.5555/ldnscreen.{len(originals)}", id="")
            originals.append(record)
    return originals


# --------------------------------------------------------------------------- corruptions


def _case(title: str, rng: random.Random) -> str:
    return rng.choice((str.upper, str.lower, string.capwords))(title)


def _punctuation(title: str, rng: random.Random) -> str:
    out = title.replace("-", rng.choice((" ", "", "--"))).replace(":", rng.choice((" -", ".", ";")))
    out = out.replace("(", "").replace(")", "") if rng.random() < 0.5 else out.replace("(", "[").replace(")", "]")
    return out.rstrip(".") if out.endswith(".") else out + "."


def _typo(title: str, rng: random.Random) -> str:
    letters = [k for k, ch in enumerate(title) if ch.isalpha()]
    if len(letters) < 2:
        return title + "s"
    k = rng.choice(letters[1:])
    kind = rng.choice(("substitute", "delete", "insert", "swap"))
    if kind == "substitute":
        new = rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c != title[k].lower()])
        return title[:k] + new + title[k + 1 :]
    if kind == "delete":
        return title[:k] + title[k + 1 :]
    if kind == "insert":
        return title[:k] + rng.choice("abcdefghijklmnopqrstuvwxyz") + title[k:]
    if k + 1 < len(title):
        return title[:k] + title[k + 1] + title[k] + title[k + 2 :]
    return title[:k]


def _truncated(title: str, rng: random.Random) -> str:
    subtitle = re.search(r"[:.]\s+\S", title[20:])
    if subtitle and rng.random() < 0.5:
        return title[: 20 + subtitle.start()]
    cut = int(len(title) * rng.uniform(0.55, 0.85))
    cut = max(cut, 35)
    if rng.random() < 0.5 and " " in title[cut:]:
        cut = title.index(" ", cut)
    return title[:cut].rstrip() + rng.choice(("", "...", " ..."))


def _split_author(author: str) -> tuple[str, list[str]]:
    if "," in author:
        family, given = author.split(",", 1)
        return family.strip(), given.replace(".", " ").split()
    tokens = author.split()
    return tokens[-1], tokens[:-1]


def _author_format(authors: tuple[str, ...], rng: random.Random) -> tuple[str, ...]:
    style = rng.choice(("medline", "full", "dotted", "upper"))
    out = []
    for author in authors:
        family, given = _split_author(author)
        initials = "".join(g[0].upper() for g in given if g)
        if style == "medline":
            out.append(f"{family} {initials}".strip())
        elif style == "full":
            out.append(" ".join((*given, family)))
        elif style == "dotted":
            out.append(" ".join((*(i + "." for i in initials), family)))
        else:
            out.append(f"{family.upper()}, {' '.join(initials)}".strip(", "))
    return tuple(out)


def _abstract(abstract: str, rng: random.Random) -> str:
    choice = rng.choice(("missing", "spacing", "copyright", "labels"))
    if choice == "missing" or not abstract:
        return ""
    if choice == "spacing":
        return re.sub(r"\s+", lambda m: rng.choice((" ", "  ", "\n")), abstract)
    if choice == "copyright":
        return abstract + f" Copyright © {rng.randint(1995, 2020)} Elsevier Inc. All rights reserved."
    return "BACKGROUND: " + abstract.replace("; ", " RESULTS: ", 1)


def applicable(record: Record) -> list[str]:
    """Corruptions that make sense for ``record``."""
    kinds = ["case", "punctuation", "typo", "author-format", "abstract", "missing-ids", "mixed"]
    if len(record.title) >= 60:
        kinds.append("truncated")
    if record.year:
        kinds.append("year")
    if record.doi:
        kinds.append("doi-format")
    if record.pmid:
        kinds.append("pmid-kept")
    if not record.authors:
        kinds.remove("author-format")
    if not record.abstract:
        kinds.remove("abstract")
    return sorted(kinds, key=CORRUPTIONS.index)


def corrupt(record: Record, kind: str, rng: random.Random, new_id: str) -> Record:
    """A copy of ``record`` as another database would export it."""
    copy = replace(
        record,
        doi="",
        pmid="",
        keywords=(),
        provenance=(Provenance(rng.choice(_OTHER_DATABASES), "generated.ris", 0, new_id),),
        labels=dict(record.labels),
        id=new_id,
    )
    if kind == "case":
        copy = replace(copy, title=_case(record.title, rng))
    elif kind == "punctuation":
        copy = replace(copy, title=_punctuation(record.title, rng))
    elif kind == "typo":
        copy = replace(copy, title=_typo(record.title, rng))
    elif kind == "truncated":
        copy = replace(copy, title=_truncated(record.title, rng))
    elif kind == "author-format":
        copy = replace(copy, authors=_author_format(record.authors, rng))
    elif kind == "abstract":
        copy = replace(copy, abstract=_abstract(record.abstract, rng))
    elif kind == "year":
        copy = replace(copy, year=record.year + rng.choice((-1, 1)))
    elif kind == "doi-format":
        copy = replace(copy, doi="https://doi.org/" + record.doi.upper(), title=_case(record.title, rng))
    elif kind == "pmid-kept":
        copy = replace(copy, pmid=record.pmid, title="[" + record.title.rstrip(".").lower() + "]")
    elif kind == "mixed":
        title = _case(record.title, rng)
        if rng.random() < 0.5:
            title = _typo(title, rng)
        copy = replace(
            copy,
            title=title,
            authors=_author_format(record.authors, rng),
            abstract=_abstract(record.abstract, rng),
            year=record.year + rng.choice((-1, 0, 1)) if record.year else None,
        )
    elif kind != "missing-ids":
        raise ValueError(f"unknown corruption {kind!r}")
    return copy


@dataclass(frozen=True)
class LabelledSet:
    """Records with the truth: which entity each record is, and how each copy was made."""

    records: tuple[Record, ...]
    entity: dict[str, str]  # record id -> id of the original it copies (itself for originals)
    kind: dict[str, str]  # record id -> corruption, "original" or "filler"


def make_fillers(originals: Sequence[Record], n: int, rng: random.Random) -> list[Record]:
    """Distinct synthetic records for scale: real titles of 4+ words with 40% of the words swapped."""
    vocabulary = [w for r in originals[:5000] for w in r.title.split() if len(w) > 3]
    years = [r.year for r in originals if r.year] or [None]
    fillers = []
    for k in range(n):
        while True:
            words = rng.choice(originals).title.split()
            if len(words) >= 4:
                break
        swapped = rng.sample(range(len(words)), max(2, round(0.4 * len(words))))
        for x in swapped:
            words[x] = rng.choice(vocabulary)
        donor = rng.choice(originals)
        fillers.append(
            Record(
                title=" ".join(words),
                abstract=donor.abstract,
                authors=rng.choice(originals).authors,
                year=rng.choice(years),
                provenance=(Provenance("synthetic", "filler", k, ""),),
                id=f"f{k:07d}",
            )
        )
    return fillers


def make_labelled_set(
    originals: Sequence[Record],
    *,
    duplicate_rate: float = 0.4,
    second_copy_rate: float = 0.1,
    total: int | None = None,
    seed: int = 0,
) -> LabelledSet:
    """Originals plus corrupted copies (and synthetic fillers to reach ``total``).

    ``duplicate_rate`` of the originals get one copy, ``second_copy_rate`` a
    second one, each with a corruption drawn uniformly from those applicable.
    """
    rng = random.Random(seed)
    base = list(originals)
    expected = 1 + duplicate_rate + second_copy_rate
    kind: dict[str, str] = {r.id: "original" for r in base}
    if total is not None:
        wanted = int(total / expected)
        if wanted < len(base):
            base = rng.sample(base, wanted)
            kind = {r.id: "original" for r in base}
        else:
            fillers = make_fillers(base, wanted - len(base), rng)
            kind.update({r.id: "filler" for r in fillers})
            base += fillers
    records = list(base)
    entity = {r.id: r.id for r in base}
    for record in base:
        for _ in range(int(rng.random() < duplicate_rate) + int(rng.random() < second_copy_rate)):
            corruption = rng.choice(applicable(record))
            copy = corrupt(record, corruption, rng, new_id=f"d{len(records):07d}")
            records.append(copy)
            entity[copy.id] = record.id
            kind[copy.id] = corruption
    if total is not None:
        records = records[:total] if len(records) > total else records
        entity = {r.id: entity[r.id] for r in records}
        kind = {r.id: kind[r.id] for r in records}
    rng.shuffle(records)
    return LabelledSet(tuple(records), entity, kind)


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class PairScores:
    """Pairwise precision and recall of a grouping against a :class:`LabelledSet`."""

    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    by_kind: dict[str, tuple[int, int, int]]  # kind -> (true, found, false positives)
    false_between_originals: tuple[tuple[str, str], ...]
    false_other: tuple[tuple[str, str], ...]
    groups_exact: float  # share of true multi-record entities recovered exactly

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0


def _pairs(members: Sequence[str]) -> list[tuple[str, str]]:
    ordered = sorted(members)
    return [(a, b) for x, a in enumerate(ordered) for b in ordered[x + 1 :]]


def score_groups(labelled: LabelledSet, groups) -> PairScores:
    """Score ``find_duplicates`` output pairwise, overall and per corruption.

    A pair (original, copy) counts for the copy's corruption; a pair of two
    copies of one original counts for ``"copy+copy"``. A false pair counts as
    a false positive for the corruption of each copy in it; false pairs of two
    originals are listed apart, since they may be genuine duplicates in the
    source corpus.
    """
    entities: dict[str, list[str]] = {}
    for record_id, entity in labelled.entity.items():
        entities.setdefault(entity, []).append(record_id)
    true = {pair for members in entities.values() for pair in _pairs(members)}
    predicted = {pair for g in groups for pair in _pairs(g.member_ids)}

    def kind_of(pair: tuple[str, str]) -> list[str]:
        if any(labelled.kind[labelled.entity[x]] == "filler" for x in pair):
            return ["synthetic"]
        kinds = [labelled.kind[x] for x in pair if labelled.kind[x] != "original"]
        if len(kinds) == 2:
            return ["copy+copy"]
        return kinds or ["original+original"]

    by_kind: dict[str, list[int]] = {}
    for pair in true:
        for k in kind_of(pair):
            counts = by_kind.setdefault(k, [0, 0, 0])
            counts[0] += 1
            counts[1] += pair in predicted
    false_originals, false_other = [], []
    for pair in sorted(predicted - true):
        kinds = [labelled.kind[x] for x in pair]
        if all(k == "original" for k in kinds):
            false_originals.append(pair)
        else:
            false_other.append(pair)
        for k in set(kind_of(pair)) - {"copy+copy"} | {k for k in kinds if k not in ("original", "filler")}:
            if k != "original+original":
                by_kind.setdefault(k, [0, 0, 0])[2] += 1
    member_sets = {frozenset(g.member_ids) for g in groups}
    multi = [frozenset(m) for m in entities.values() if len(m) > 1]
    exact = sum(m in member_sets for m in multi) / len(multi) if multi else 1.0
    return PairScores(
        true_pairs=len(true),
        predicted_pairs=len(predicted),
        correct_pairs=len(true & predicted),
        by_kind={k: tuple(v) for k, v in sorted(by_kind.items())},
        false_between_originals=tuple(false_originals),
        false_other=tuple(false_other),
        groups_exact=exact,
    )


def adjudicate(labelled: LabelledSet, path: Path) -> tuple[LabelledSet, dict[tuple[str, str], str]]:
    """Merge the entities of originals that a person judged to be genuine duplicates.

    ``path`` is a CSV with ``file_a,id_a,file_b,id_b,verdict,note`` where
    files and ids are those of the shared corpora and ``verdict`` is
    ``duplicate``, ``distinct`` or ``uncertain`` (kept apart, like distinct).

    Returns the relabelled set and each reviewed pair's verdict by record ids.
    """
    by_source = {}
    for record in labelled.records:
        if labelled.kind[record.id] == "original" and record.provenance:
            p = record.provenance[0]
            by_source[(p.file, p.source_id)] = record.id
    with Path(path).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    parent = {}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    verdicts = {}
    for row in rows:
        a = by_source.get((row["file_a"], row["id_a"]))
        b = by_source.get((row["file_b"], row["id_b"]))
        if a is None or b is None:
            continue
        verdicts[tuple(sorted((a, b)))] = row["verdict"]
        if row["verdict"] == "duplicate":
            ra, rb = sorted((find(a), find(b)))
            parent[rb] = ra
    entity = {rid: find(e) for rid, e in labelled.entity.items()}
    return LabelledSet(labelled.records, entity, labelled.kind), verdicts
