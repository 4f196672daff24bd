"""PubMed XML (``PubmedArticleSet``, ``.xml``): read and write.

PubMed's "Save > Format: XML" and E-utilities' ``efetch`` write a
``PubmedArticleSet`` of ``PubmedArticle`` (and ``PubmedBookArticle``)
elements. The file is parsed with :mod:`defusedxml`, which refuses entity
declarations (the "billion laughs" and external-entity attacks) instead of
expanding them, and streamed with ``iterparse`` so large exports use little
memory. Structured abstracts keep their sections in order as
``"LABEL: text"``.

Examples
--------
>>> xml = '''<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>7</PMID>
... <Article><ArticleTitle>LDN in CRPS</ArticleTitle><Abstract>
... <AbstractText Label="BACKGROUND">Pain.</AbstractText>
... <AbstractText Label="RESULTS">Less pain.</AbstractText></Abstract>
... </Article></MedlineCitation></PubmedArticle></PubmedArticleSet>'''
>>> [r] = loads(xml)
>>> r.pmid, r.abstract
('7', 'BACKGROUND: Pain. RESULTS: Less pain.')
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from typing import ClassVar, Iterable, Mapping

import defusedxml.ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from ..records import Provenance, Record, normalise_doi
from .base import BadRecord, PathOrFile, Reader, ReadError, parse_year, write_target

__all__ = ["PubmedXmlReader", "PubmedXmlWriter", "load", "loads", "dump", "dumps"]


def _text(element: ET.Element | None) -> str:
    """All text inside ``element`` (inline ``<i>``, ``<sup>`` included), spaces collapsed."""
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


class PubmedXmlReader(Reader):
    """Reader for ``PubmedArticleSet`` XML."""

    FORMAT = "pubmed-xml"
    DATABASE = "pubmed"
    BINARY = True  # the XML declaration decides the encoding
    ARTICLE_TAGS: ClassVar[tuple[str, ...]] = ("PubmedArticle", "PubmedBookArticle")

    def read_bytes(self, data: bytes, file: str, encoding: str | None = None) -> tuple[list[Record], list[BadRecord]]:
        return self._parse_stream(io.BytesIO(data), file)

    def parse(self, text: str, file: str = "<string>") -> tuple[list[Record], list[BadRecord]]:
        text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
        return self._parse_stream(io.BytesIO(text.encode("utf-8")), file)

    def _parse_stream(self, stream: io.BytesIO, file: str) -> tuple[list[Record], list[BadRecord]]:
        records: list[Record] = []
        bad: list[BadRecord] = []
        root_tag = None
        try:
            for event, element in SafeET.iterparse(stream, events=("start", "end")):
                if event == "start":
                    if root_tag is None:
                        root_tag = element.tag
                        if root_tag not in ("PubmedArticleSet", "PubmedBookArticleSet"):
                            raise ReadError(file, "line 1", f"root element is <{root_tag}>, not <PubmedArticleSet>")
                    continue
                if element.tag in self.ARTICLE_TAGS:
                    number = len(records) + len(bad) + 1
                    try:
                        records.append(self.to_record(element, file, number - 1))
                    except ValueError as error:
                        bad.append(BadRecord(f"record {number}", f"{element.tag} {error}"))
                    element.clear()
        except DefusedXmlException as error:
            raise ReadError(
                file,
                "",
                f"refused to read: the XML declares the entity {getattr(error, 'name', '')!r}; PubMed "
                "exports never declare entities, which can exhaust memory (billion laughs) or read "
                "local files (external entities)",
            ) from None
        except ET.ParseError as error:
            line, column = error.position
            problem = "XML is not well-formed"
            if "no element found" in str(error) or "unclosed token" in str(error):
                problem += " (the file looks truncated)"
            raise ReadError(file, f"line {line}", f"{problem}: {str(error).split(':')[0]}") from None
        if root_tag is None:
            raise ReadError(file, "", "no XML content")
        return records, bad

    def to_record(self, article: ET.Element, file: str, position: int) -> Record:
        """Build one record from a ``PubmedArticle`` or ``PubmedBookArticle``."""
        if article.tag == "PubmedBookArticle":
            body = article.find("BookDocument")
            if body is None:
                raise ValueError("has no BookDocument")
            title = _text(body.find("ArticleTitle")) or _text(body.find("Book/BookTitle"))
            date = body.find("Book/PubDate")
            journal = _text(body.find("Book/BookTitle"))
            pmid = _text(body.find("PMID"))
            ids = article.findall("PubmedBookData/ArticleIdList/ArticleId") + body.findall("ArticleIdList/ArticleId")
            keywords = [_text(k) for k in body.findall("KeywordList/Keyword")]
            kinds = [_text(k) for k in body.findall("PublicationType")]
        else:
            body = article.find("MedlineCitation")
            if body is None:
                raise ValueError("has no MedlineCitation")
            art = body.find("Article")
            if art is None:
                raise ValueError("has no Article")
            title = _text(art.find("ArticleTitle")) or _text(art.find("VernacularTitle"))
            date = art.find("Journal/JournalIssue/PubDate")
            journal = _text(art.find("Journal/Title")) or _text(body.find("MedlineJournalInfo/MedlineTA"))
            pmid = _text(body.find("PMID"))
            ids = article.findall("PubmedData/ArticleIdList/ArticleId")
            ids += [e for e in art.findall("ELocationID") if e.get("EIdType") == "doi"]
            keywords = [_text(h.find("DescriptorName")) for h in body.findall("MeshHeadingList/MeshHeading")]
            keywords += [_text(k) for k in body.findall("KeywordList/Keyword")]
            kinds = [_text(k) for k in art.findall("PublicationTypeList/PublicationType")]
            body = art
        if not title and not self.keep_untitled:
            raise ValueError("has no title (ArticleTitle)")
        doi = next((_text(e) for e in ids if (e.get("IdType") or e.get("EIdType")) == "doi"), "")
        pmid = pmid or next((_text(e) for e in ids if e.get("IdType") == "pubmed"), "")
        year = None
        if date is not None:
            year = parse_year(_text(date.find("Year")) or _text(date.find("MedlineDate")))
        if year is None:
            year = parse_year(_text(body.find("ArticleDate/Year")))
        return Record(
            title=title,
            abstract=self.abstract(body.find("Abstract")),
            authors=tuple(self.author(a) for a in body.findall("AuthorList/Author") if self.author(a)),
            year=year,
            journal=journal,
            doi=normalise_doi(doi),
            pmid=pmid,
            keywords=tuple(k for k in keywords if k),
            language=_text(body.find("Language")),
            publication_types=tuple(k for k in kinds if k),
            provenance=(Provenance(self.DATABASE, file, position, pmid),),
        )

    @staticmethod
    def abstract(element: ET.Element | None) -> str:
        """Abstract sections joined in order, labelled ones as ``"LABEL: text"``."""
        if element is None:
            return ""
        parts = []
        for section in element.findall("AbstractText"):
            text = _text(section)
            label = section.get("Label")
            if text:
                parts.append(f"{label}: {text}" if label else text)
        return " ".join(parts)

    @staticmethod
    def author(element: ET.Element) -> str:
        """``"LastName, ForeName"`` or the collective name."""
        collective = _text(element.find("CollectiveName"))
        if collective:
            return collective
        last = _text(element.find("LastName"))
        fore = _text(element.find("ForeName")) or _text(element.find("Initials"))
        return f"{last}, {fore}" if last and fore else last


_BAD_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


class PubmedXmlWriter:
    """Writes records as a ``PubmedArticleSet`` like PubMed's XML export."""

    DOCTYPE: ClassVar[str] = (
        '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2019//EN" '
        '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_190101.dtd">'
    )

    def article(self, record: Record) -> ET.Element:
        def sub(parent: ET.Element, tag: str, text: str = "", **attrs: str) -> ET.Element:
            child = ET.SubElement(parent, tag, attrs)
            if text:
                child.text = _BAD_XML_CHARS.sub("", text)
            return child

        pmid = record.pmid
        article = ET.Element("PubmedArticle")
        citation = sub(article, "MedlineCitation", Status="MEDLINE", Owner="NLM")
        sub(citation, "PMID", pmid, Version="1")
        art = sub(citation, "Article", PubModel="Print")
        journal = sub(art, "Journal")
        issue = sub(journal, "JournalIssue", CitedMedium="Print")
        date = sub(issue, "PubDate")
        if record.year:
            sub(date, "Year", str(record.year))
        sub(journal, "Title", record.journal)
        sub(art, "ArticleTitle", record.title)
        if record.doi:
            sub(art, "ELocationID", record.doi, EIdType="doi", ValidYN="Y")
        if record.abstract:
            sub(sub(art, "Abstract"), "AbstractText", record.abstract)
        if record.authors:
            authors = sub(art, "AuthorList", CompleteYN="Y")
            for name in record.authors:
                author = sub(authors, "Author", ValidYN="Y")
                if "," in name:
                    last, fore = (p.strip() for p in name.split(",", 1))
                    sub(author, "LastName", last)
                    sub(author, "ForeName", fore)
                elif " " in name.strip():
                    fore, last = name.strip().rsplit(" ", 1)
                    sub(author, "LastName", last)
                    sub(author, "ForeName", fore)
                else:
                    sub(author, "CollectiveName", name)
        if record.language:
            sub(art, "Language", record.language)
        kinds = sub(art, "PublicationTypeList")
        for kind in record.publication_types or ("Journal Article",):
            sub(kinds, "PublicationType", kind)
        if record.keywords:
            words = sub(citation, "KeywordList", Owner="NOTNLM")
            for word in record.keywords:
                sub(words, "Keyword", word, MajorTopicYN="N")
        data = sub(article, "PubmedData")
        ids = sub(data, "ArticleIdList")
        if pmid:
            sub(ids, "ArticleId", pmid, IdType="pubmed")
        if record.doi:
            sub(ids, "ArticleId", record.doi, IdType="doi")
        return article

    def formats(self, records: Iterable[Record]) -> str:
        parts = ['<?xml version="1.0" ?>', self.DOCTYPE, "<PubmedArticleSet>"]
        for record in records:
            parts.append(ET.tostring(self.article(record), encoding="unicode"))
        parts.append("</PubmedArticleSet>\n")
        return "\n".join(parts)


def load(
    path_or_file: PathOrFile,
    *,
    encoding: str | None = None,
    skip_bad: bool = False,
    implementation: type[PubmedXmlReader] = PubmedXmlReader,
) -> list[Record]:
    """Records of a PubMed XML file; the XML declaration decides the encoding."""
    return implementation().load(path_or_file, encoding=encoding, skip_bad=skip_bad)


def loads(text: str, *, skip_bad: bool = False, implementation: type[PubmedXmlReader] = PubmedXmlReader) -> list[Record]:
    """Records of PubMed XML text."""
    return implementation().loads(text, skip_bad=skip_bad)


def dumps(records: Iterable[Record], *, implementation: type[PubmedXmlWriter] = PubmedXmlWriter) -> str:
    """PubMed XML text of ``records``."""
    return implementation().formats(records)


def dump(
    records: Iterable[Record],
    path_or_file: PathOrFile,
    *,
    decisions: Mapping | None = None,
    implementation: type[PubmedXmlWriter] = PubmedXmlWriter,
) -> None:
    """Write ``records`` as PubMed XML (``decisions`` are not part of the format)."""
    if decisions:
        raise ValueError("PubMed XML cannot carry screening decisions; write csv, xlsx or ris")
    write_target(path_or_file, dumps(records, implementation=implementation))
