"""RIS dialects (Embase, Scopus, Zotero, EndNote) and the RIS writer's decisions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import rispy

from ldnscreen.io import ReadError, read_file, ris, write_file
from ldnscreen.records import Record

DATA = Path(__file__).resolve().parent / "data"


def test_embase_tags():
    trial, conference, review = ris.load(DATA / "embase.ris")
    assert trial.authors == ("Younger, J.", "Noor, N.", "McCue, R.")  # "Younger J." normalised
    assert trial.abstract.endswith("Copyright © 2021 Example Publisher.")  # N2 continuation line
    assert trial.journal == "Pain Medicine" and trial.language == "English"
    assert trial.pmid == "39000001" and trial.provenance[0].source_id == "L2011234567"
    assert "*fibromyalgia / drug therapy" in trial.keywords and len(trial.keywords) == 5
    assert conference.publication_types == ("Conference Abstract",) and conference.year == 2019
    assert review.abstract == "" and review.language == "Polish"


def test_scopus_tags():
    trial, conference = ris.load(DATA / "scopus.ris")
    assert trial.pmid == "39000001" and trial.journal == "Pain Medicine"
    assert trial.labels == {}  # "Export Date" notes are not labels
    assert "Conference Paper" in conference.publication_types
    assert conference.title == "LOW-DOSE NALTREXONE IN PAINFUL DIABETIC NEUROPATHY"


def test_zotero_notes_labels_and_unknown_tags():
    article, book = ris.load(DATA / "zotero.ris")
    assert article.labels == {"label_included": 1}  # <p>ASReview_relevant</p>
    assert article.pmid == "39000001" and article.year == 2021
    assert book.labels == {"label_included": 0}
    assert book.title == "Opioid antagonists in clinical practice"  # ZZ tag did not break the record
    assert "Whole book" in book.publication_types and book.provenance[0].source_id == "12345"


def test_endnote_tags():
    [record] = ris.load(DATA / "endnote.ris")
    assert record.journal == "Pain Med" and record.doi == "10.1093/pm/pnaa901"
    assert record.provenance[0].database == "endnote" and record.provenance[0].source_id == "17"


@pytest.mark.parametrize(
    "fmt, database", [("ris-embase", "embase"), ("ris-scopus", "scopus"), ("ris-zotero", "zotero"),
                      ("ris-endnote", "endnote")]
)
def test_a_dialect_can_be_forced(fmt, database):
    result = read_file(DATA / "endnote.ris", format=fmt)
    assert result.database == database and result.records[0].provenance[0].database == database


def test_missing_end_tag_names_the_record():
    with pytest.raises(ReadError) as info:
        read_file(DATA / "embase_missing_er.ris")
    assert str(info.value).startswith("embase_missing_er.ris, line 38: record 2 has no end tag (ER)")
    result = read_file(DATA / "embase_missing_er.ris", skip_bad=True)
    assert [r.title for r in result.records][-1] == "Naltrexone and the immune system"
    assert len(result.skipped) == 1


def test_truncated_last_record_is_not_silently_dropped():
    text = (DATA / "scopus.ris").read_text(encoding="utf-8")
    truncated = text[: text.rindex("ER  - ")]
    assert len(rispy.loads(truncated)) == 1  # rispy alone loses the record quietly
    with pytest.raises(ReadError, match="record 2 has no end tag \\(ER\\): the file looks truncated"):
        ris.loads(truncated)


def test_an_abstract_in_sections_is_read_whole():
    text = ("TY  - JOUR\nTI  - Naltrexone at low dose in Crohn disease\nAB  - Background: Crohn disease is common.\n"
            "AB  - Methods: Seventeen adults took 4.5 mg LDN for twelve weeks;\nresults were encouraging.\n"
            "AB  - Results: 89% responded.\nER  - \n")
    [record] = ris.loads(text)
    assert record.abstract == ("Background: Crohn disease is common. Methods: Seventeen adults took 4.5 mg LDN for "
                               "twelve weeks; results were encouraging. Results: 89% responded.")


def test_a_record_rispy_cannot_read_is_a_clear_error_not_a_traceback():
    # a repeated single-value tag followed by a continuation line: rispy raises a TypeError
    text = ("TY  - JOUR\nTI  - Naltrexone\nPY  - 2007\nPY  - 2008\nlater\nER  - \n"
            "TY  - JOUR\nTI  - Kept\nER  - \n")
    with pytest.raises(ReadError, match=r"^<string>, line 1: record 1 cannot be parsed \(TypeError"):
        ris.loads(text)
    assert [r.title for r in ris.loads(text, skip_bad=True)] == ["Kept"]


def test_record_without_title():
    with pytest.raises(ReadError, match=r"^<string>, line 1: record 1 has no title \(TI/T1\) field"):
        ris.loads("TY  - JOUR\nAU  - Doe, J\nER  - \n")


def test_writer_decisions_are_what_asreview_reads(tmp_path):
    records = [Record(title="LDN in CRPS", pmid="1"), Record(title="LDN in rats", pmid="2"), Record(title="Other")]
    decisions = {
        records[0].id: {"label": "include", "stage": "title-abstract", "reviewer": "JB"},
        records[1].id: {"label": "exclude", "reason": "animal model", "note": "rats only"},
    }
    path = tmp_path / "export.ris"
    write_file(records, path, decisions=decisions)
    text = path.read_text(encoding="utf-8")
    # read as asreview/io/ris_reader.py does: rispy with skip_unknown_tags, notes searched for its tags
    entries = rispy.load(path, encoding="utf-8", skip_unknown_tags=True)
    regex = r"ASReview_relevant|ASReview_irrelevant|ASReview_not_seen"
    found = [[m for n in e.get("notes", []) for m in re.findall(regex, n)] for e in entries]
    assert found == [["ASReview_relevant"], ["ASReview_irrelevant"], []]
    assert "N1  - Exclusion reason: animal model" in text
    assert "N1  - Screening note: rats only" in text
    assert "N1  - ldnscreen decision: include (stage title-abstract, reviewer JB)" in text
    back = ris.load(path)
    assert [r.labels.get("label_included") for r in back] == [1, 0, None]
    assert [r.id for r in back] == [r.id for r in records]
    assert back[0].provenance[0].source_id == records[0].id  # the ID tag keeps ldnscreen's id


def test_decision_objects_with_attributes_are_accepted():
    class Decision:
        label, reason, stage, reviewer, note, decided_at = "exclude", "review article", "full-text", None, None, None

    record = Record(title="A narrative review of naltrexone")
    text = ris.dumps([record], decisions={record.id: Decision()})
    assert "N1  - ASReview_irrelevant" in text and "N1  - Exclusion reason: review article" in text


def test_record_labels_written_when_there_is_no_decision():
    record = Record(title="x", labels={"label_included": 1, "label_abstract_screening": 1})
    [back] = ris.loads(ris.dumps([record]))
    assert back.labels == {"label_included": 1, "label_abstract_screening": 1}


def test_embase_writer_uses_embase_tags():
    record = Record(title="LDN", abstract="Abstract.", authors=("Younger, J.",), year=2019, pmid="5",
                    journal="Pain Med", doi="10.1/x")
    text = ris.dumps([record], implementation=ris.EmbaseRisWriter)
    for line in ("T1  - LDN", "N2  - Abstract.", "A1  - Younger, J.", "Y1  - 2019//", "C5  - 5", "DB  - Embase",
                 "JF  - Pain Med", "DO  - 10.1/x"):
        assert line in text.splitlines()
    [back] = ris.loads(text)
    assert back.provenance[0].database == "embase" and back.id == record.id


def test_multiline_values_are_flattened_so_tags_cannot_be_injected():
    record = Record(title="Title\nER  - \nTY  - JOUR", abstract="line one\nline two")
    [back] = ris.loads(ris.dumps([record]))
    assert back.title == "Title ER - TY - JOUR" and back.abstract == "line one line two"


def test_html_entities_in_text_fields_are_decoded():
    # Zotero and some databases export the entities of their web pages
    text = (
        "TY  - JOUR\n"
        "TI  - Low-dose naltrexone (LDN) &amp; fibromyalgia: the TNF-&alpha; pathway in Crohn&#39;s disease\n"
        "AU  - M&uuml;ller, Jan\n"
        "T2  - Pain &amp; Medicine\n"
        "AB  - Doses &lt;5 mg; R&D funding.\n"
        "KW  - TNF-&alpha;\n"
        "ER  - \n"
    )
    [record] = ris.loads(text)
    assert record.title == "Low-dose naltrexone (LDN) & fibromyalgia: the TNF-α pathway in Crohn's disease"
    assert record.abstract == "Doses <5 mg; R&D funding."  # a bare "&" is text, not an entity
    assert (record.authors, record.journal, record.keywords) == (("Müller, Jan",), "Pain & Medicine", ("TNF-α",))
