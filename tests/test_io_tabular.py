"""CSV / TSV / XLSX: column names, labels, formula escaping, writer round trips."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import load_workbook

from ldnscreen.io import ReadError, read_file, tabular, write_file
from ldnscreen.records import Provenance, Record

DATA = Path(__file__).resolve().parent / "data"


def test_csv_columns_labels_and_source_ids():
    trial, formula, dash, bare = read_file(DATA / "records.csv").records
    assert trial.labels == {"label_included": 1, "label_abstract_screening": 1}
    assert trial.year == 2021 and trial.doi == "10.1093/pm/pnaa901"  # "2021.0", resolver prefix dropped
    assert trial.authors == ("Younger, Jarred", "Noor, Noorulain")
    assert "\nSecond paragraph" in trial.abstract and '""' not in trial.abstract
    assert [r.provenance[0].source_id for r in (trial, formula, dash, bare)] == ["101", "102", "103", "104"]
    assert formula.labels == {"label_included": 0, "label_abstract_screening": 1}
    assert bare.labels == {} and bare.year is None


def test_other_column_names():
    crps, other = read_file(DATA / "records.tsv").records
    assert (crps.year, crps.doi, crps.pmid, crps.labels) == (2019, "10.1000/crps.1", "39000020", {"label_included": 1})
    assert other.labels == {"label_included": 0}
    [scopus] = read_file(DATA / "scopus.csv").records
    assert scopus.authors[0] == "Younger, Jarred"  # "Author full names" without Scopus author ids
    assert scopus.provenance[0].source_id == "2-s2.0-85100000001"
    assert "female" in scopus.keywords and "Fibromyalgia" in scopus.keywords  # author + index keywords
    crohn, alcohol = read_file(DATA / "records.xlsx").records
    assert crohn.pmid == "39000030" and crohn.year == 2007 and crohn.labels == {"label_included": 1}
    assert alcohol.year == 1999


def test_missing_title_column_lists_the_columns_found():
    with pytest.raises(ReadError) as info:
        read_file(DATA / "no_title.csv")
    assert str(info.value) == (
        "no_title.csv, line 1: no title column (expected one of title, Title, TI, primary_title); "
        "columns found: record_id, Article Name, Summary, year"
    )


def test_row_without_title_is_a_bad_record():
    text = "title,abstract\nfirst,a\n,orphan abstract\nthird,c\n"
    with pytest.raises(ReadError, match=r"^<string>, line 3: record 2 has no title$"):
        tabular.loads(text)
    assert [r.title for r in tabular.loads(text, skip_bad=True)] == ["first", "third"]


DANGEROUS = ["=1+2", "+SUM(A1:A2)", "-2+3", "@cmd", '=HYPERLINK("http://evil.example","x")']


def _dangerous_records() -> list[Record]:
    return [Record(title=value, abstract=value, journal=value) for value in DANGEROUS]


def test_csv_cells_that_would_run_as_formulas_are_escaped(tmp_path):
    path = tmp_path / "out.csv"
    records = _dangerous_records()
    write_file(records, path, decisions={records[0].id: {"label": "exclude", "reason": "=cmd|' /C calc'!A0"}})
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row, value in zip(rows, DANGEROUS):
        assert row["title"] == "'" + value and row["journal"] == "'" + value
    assert rows[0]["reason"].startswith("'=")
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())
    back = read_file(path).records
    assert [r.title for r in back] == DANGEROUS  # the reader removes the escape again


def test_xlsx_cells_are_strings_never_formulas(tmp_path):
    path = tmp_path / "out.xlsx"
    write_file(_dangerous_records(), path)
    sheet = load_workbook(path).worksheets[0]
    titles = [row[1] for row in sheet.iter_rows(min_row=2)]
    assert [c.data_type for c in titles] == ["s"] * len(DANGEROUS)
    assert [c.value for c in titles] == ["'" + v for v in DANGEROUS]
    assert [r.title for r in read_file(path).records] == DANGEROUS


def _screened() -> tuple[list[Record], dict]:
    records = [
        Record(title="LDN for fibromyalgia", abstract="Crossover trial.", authors=("Younger, Jarred", "Noor, N"),
               year=2013, journal="Arthritis Rheum", doi="10.1002/art.37734", pmid="23359310",
               keywords=("fibromyalgia", "naltrexone"), language="eng", publication_types=("Clinical Trial",),
               provenance=(Provenance("pubmed", "a.nbib", 0, "23359310"), Provenance("embase", "b.ris", 4, "L1")),
               labels={"label_included": 1}),
        Record(title="Naltrexone in rats", year=2010, labels={"label_included": 0, "label_abstract_screening": 1}),
        Record(title="Not yet screened, with a comma, and \"quotes\"", abstract="Two\nlines"),
    ]
    decisions = {
        records[0].id: {"label": "include", "stage": "title-abstract", "reviewer": "JB", "note": "key trial"},
        records[1].id: {"label": "exclude", "reason": "animal model", "stage": "full-text", "reviewer": "JB"},
    }
    return records, decisions


@pytest.mark.parametrize("extension", [".csv", ".tsv", ".xlsx"])
def test_writer_round_trip(tmp_path, extension):
    records, decisions = _screened()
    path = tmp_path / f"screened{extension}"
    write_file(records, path, decisions=decisions)
    back = read_file(path).records
    for original, copy in zip(records, back, strict=True):
        assert copy.id == original.id
        for field in ("title", "abstract", "authors", "year", "journal", "doi", "pmid", "keywords", "language",
                      "publication_types", "labels"):
            assert getattr(copy, field) == getattr(original, field), field
        assert copy.provenance[0].source_id == original.id  # the record_id column


def test_csv_writer_columns_hold_decisions(tmp_path):
    records, decisions = _screened()
    path = tmp_path / "screened.csv"
    write_file(records, path, decisions=decisions)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:4] == ["record_id", "title", "abstract", "authors"]
    assert rows[0]["databases"] == "pubmed; embase" and rows[0]["source_ids"] == "23359310; L1"
    assert (rows[1]["decision"], rows[1]["reason"], rows[1]["stage"]) == ("exclude", "animal model", "full-text")
    assert rows[0]["note"] == "key trial" and rows[2]["decision"] == ""
    assert rows[1]["label_abstract_screening"] == "1" and rows[0]["label_abstract_screening"] == ""


def test_escape_helpers_are_inverse():
    for value in DANGEROUS + ["plain", "'quoted'", "", "'"]:
        assert tabular.unescape_formula(tabular.escape_formula(value)) == value


def test_truncated_csv_is_a_read_error_naming_the_line():
    text = 'title,abstract\nA,"two\nlines"\nB,"an abstract cut off by a trunc'
    with pytest.raises(ReadError, match=r"^<string>, line 4: record 2 has a quoted field that is never closed"):
        tabular.loads(text)
    assert [r.title for r in tabular.loads(text, skip_bad=True)] == ["A"]


def test_line_numbers_count_multiline_cells():
    text = 'title,abstract\nA,"one\ntwo\nthree"\n,"no title"\n'
    with pytest.raises(ReadError, match=r"^<string>, line 5: record 2 has no title"):
        tabular.loads(text)


def test_semicolon_separated_csv_is_read_like_the_comma_one(tmp_path):
    # Excel's "CSV" where the decimal mark is a comma separates cells with semicolons
    comma = tmp_path / "comma.csv"
    comma.write_text('title,abstract,year,label_included\n"Naltrexone; low dose",Pain trial,2019,1\nRats,Liver,2001,0\n')
    semicolon = tmp_path / "semicolon.csv"
    semicolon.write_text('title;abstract;year;label_included\n"Naltrexone; low dose";Pain trial;2019;1\nRats;Liver;2001;0\n')
    read = [[(r.title, r.abstract, r.year, r.labels) for r in read_file(p).records] for p in (comma, semicolon)]
    assert read[0] == read[1] and read[0][0] == ("Naltrexone; low dose", "Pain trial", 2019, {"label_included": 1})
    assert tabular.csv_delimiter("title;abstract, with a comma\n") == ","  # a comma anywhere in the header: commas


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_a_quote_inside_an_unquoted_cell_is_text_not_a_truncation(delimiter):
    # a stray inch mark made the whole file's quote count odd: "truncated", and skip_bad dropped the last record
    rows = ['title|year', 'Effect of a 5" bandage on wounds|2018', "Low dose naltrexone in Crohn disease|2007"]
    text = "\n".join(rows).replace("|", delimiter) + "\n"
    implementation = tabular.CsvReader if delimiter == "," else tabular.TsvReader
    records = tabular.loads(text, implementation=implementation)
    assert [(r.title, r.year) for r in records] == [('Effect of a 5" bandage on wounds', 2018),
                                                    ("Low dose naltrexone in Crohn disease", 2007)]


def test_a_truncated_csv_is_still_found_after_a_stray_quote():
    text = 'title,abstract\nA 5" bandage,x\n,no title\nB,"cut off\nby a trunc'
    records, bad = tabular.CsvReader().parse(text)
    assert [r.title for r in records] == ['A 5" bandage']  # the record before the cut-off one is kept, whatever it is
    assert [(b.location, b.problem) for b in bad] == [
        ("line 3", "record 2 has no title"),
        ("line 4", "record 3 has a quoted field that is never closed: the file looks truncated"),
    ]
    with pytest.raises(ReadError, match=r"^<string>, line 1: the header row has a quoted field that is never closed"):
        tabular.loads('title,"abstract\nA,b\n')


@pytest.mark.parametrize(
    "cell, authors",
    [
        ("Younger J., Noor N., Mackey S.", ("Younger J.", "Noor N.", "Mackey S.")),  # older Scopus CSV
        ("Younger J, Noor N, van der Berg AB", ("Younger J", "Noor N", "van der Berg AB")),  # Covidence
        ("Younger, Jarred", ("Younger, Jarred",)),  # one "Family, Given" name
        ("Younger, J.", ("Younger, J.",)),
        ("Younger, Jarred; Noor, N", ("Younger, Jarred", "Noor, N")),
        ("Younger J., et al.", ("Younger J., et al.",)),  # not every part is a name: left whole
    ],
)
def test_comma_separated_author_cells_are_split_only_into_family_initials_names(cell, authors):
    [record] = tabular.loads(f'Title,Authors,Year\nLow-dose naltrexone for fibromyalgia,"{cell}",2009\n')
    assert record.authors == authors
    if len(authors) > 1:
        assert record.first_author == "Younger"  # the key deduplication compares; it was "J" (or "Younger J.")


def test_html_entities_in_text_cells_are_decoded():
    text = ('Title,Abstract,Authors,Journal,Keywords\n'
            '"TNF-&alpha; &amp; IL-6 in Crohn&#39;s disease","Doses &lt;5 mg; R&D",M&uuml;ller J,Pain &amp; Medicine,'
            'TNF-&alpha;\n')
    [record] = tabular.loads(text)
    assert record.title == "TNF-α & IL-6 in Crohn's disease" and record.abstract == "Doses <5 mg; R&D"
    assert (record.authors, record.journal, record.keywords) == (("Müller J",), "Pain & Medicine", ("TNF-α",))


def test_a_row_with_more_cells_than_the_header_is_a_bad_record():
    # the unquoted comma in the title shifted the abstract into Year and the year into DOI
    text = ("Title,Abstract,Year,DOI\n"
            "Low-dose naltrexone, a review of 12 trials,We reviewed trials.,2020,10.1000/a\n"
            "Short row only\n"
            "Trailing empty cells are no harm,abs,2019,,,\n")
    with pytest.raises(ReadError, match=r"^<string>, line 2: record 1 has 5 cells, the header 4: a comma inside a cell"):
        tabular.loads(text)
    assert [r.title for r in tabular.loads(text, skip_bad=True)] == ["Short row only", "Trailing empty cells are no harm"]


def test_a_tab_delimited_file_named_csv_is_read_as_tab_separated(tmp_path):
    # it was "no title column ... columns found: Title Abstract Year", contradicting itself
    path = tmp_path / "tabs_named.csv"
    path.write_text("Title\tAbstract\tYear\nLDN in CRPS\tAbs, with comma\t2020\n")
    [record] = read_file(path).records
    assert (record.title, record.abstract, record.year) == ("LDN in CRPS", "Abs, with comma", 2020)
    assert tabular.csv_delimiter("title;abstract\tx\n") == "\t"  # tabs, not semicolons, when both and no comma
