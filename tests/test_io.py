"""read_file / write_file / detect_format over real-shaped export fixtures."""

from __future__ import annotations

import io
import shutil
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from ldnscreen.io import FORMATS, ReadError, ReadResult, detect_format, read_file, write_file
from ldnscreen.io import medline, pubmed_xml, wos
from ldnscreen.io.base import decode_bytes
from ldnscreen.records import Record

DATA = Path(__file__).resolve().parent / "data"

# file, format, database, number of records, title of the first record (start)
GOOD = [
    ("pubmed.nbib", "medline", "pubmed", 3, "Low-dose naltrexone for fibromyalgia: a randomised"),
    ("pubmed.xml", "pubmed-xml", "pubmed", 3, "Low-dose naltrexone in complex regional pain syndrome"),
    ("embase.ris", "ris", "embase", 3, "Low dose naltrexone for fibromyalgia: A randomized"),
    ("scopus.ris", "ris", "scopus", 2, "Low-dose naltrexone for fibromyalgia: A randomised"),
    ("zotero.ris", "ris", "zotero", 2, "Low-dose naltrexone for fibromyalgia: a randomised"),
    ("endnote.ris", "ris", "endnote", 1, "Low-dose naltrexone for fibromyalgia: a randomised"),
    ("wos_savedrecs_utf8.txt", "wos-tab", "wos", 3, "Low-dose naltrexone for fibromyalgia: a randomised"),
    ("wos_savedrecs_utf16.txt", "wos-tab", "wos", 3, "Low-dose naltrexone for fibromyalgia: a randomised"),
    ("wos_plain.txt", "wos-plain", "wos", 2, "Low-dose naltrexone for fibromyalgia: a randomised"),
    ("records.csv", "csv", "csv", 4, "Low-dose naltrexone for fibromyalgia: a randomised"),
    ("records.tsv", "tsv", "tsv", 2, "Low-dose naltrexone in CRPS"),
    ("scopus.csv", "csv", "scopus", 1, "Low-dose naltrexone for fibromyalgia: A randomised"),
    ("records.xlsx", "xlsx", "xlsx", 2, "Low-dose naltrexone in Crohn's disease"),
]


@pytest.mark.parametrize("name, fmt, database, count, title", GOOD, ids=[g[0] for g in GOOD])
def test_read_file_detects_format_and_database(name, fmt, database, count, title):
    result = read_file(DATA / name)
    assert isinstance(result, ReadResult)
    assert (result.format, result.database, len(result.records)) == (fmt, database, count)
    assert result.records[0].title.startswith(title)
    assert result.skipped == []
    first = result.records[0].provenance[0]
    assert (first.database, first.file, first.position) == (database, name, 0)
    assert [r.provenance[0].position for r in result.records] == list(range(count))


@pytest.mark.parametrize(
    "name",
    ["pubmed.nbib", "embase.ris", "scopus.ris", "zotero.ris", "wos_savedrecs_utf8.txt",
     "wos_savedrecs_utf16.txt", "wos_plain.txt", "records.csv", "scopus.csv"],
)
def test_the_same_trial_reads_alike_from_every_database(name):
    """The fibromyalgia fixture trial is in most files: same year, DOI, PMID whatever the export."""
    record = read_file(DATA / name).records[0]
    assert record.year == 2021
    assert record.doi == "10.1093/pm/pnaa901"
    assert record.pmid == "39000001"  # Embase C5, Scopus C2, Zotero "PMID:" note, WoS PM
    assert record.first_author == "Younger"
    assert "not a real study" in record.abstract


def test_medline_fields():
    records = read_file(DATA / "pubmed.nbib").records
    trial, spanish, rat = records
    assert trial.title.endswith("crossover trial (illustrative fixture record).")  # continuation joined
    assert trial.abstract.startswith("BACKGROUND: Illustrative") and "CONCLUSIONS: LDN" in trial.abstract
    assert trial.authors == ("Younger, Jarred", "Noor, Noorulain", "McCue, Rebecca")  # FAU preferred
    assert trial.journal == "Pain medicine (Malden, Mass.)"
    assert "Randomized Controlled Trial" in trial.publication_types
    assert "Fibromyalgia/drug therapy" in trial.keywords and "Low-dose naltrexone" in trial.keywords
    assert trial.language == "eng" and trial.provenance[0].source_id == "39000001"
    assert spanish.language == "spa" and spanish.year == 2019  # "2019 Nov-Dec"
    assert spanish.authors[1] == "Ünal, Ömer"
    assert rat.doi == ""


def test_medline_record_without_title_names_line_and_record():
    with pytest.raises(ReadError) as info:
        read_file(DATA / "pubmed_no_title.nbib")
    assert str(info.value) == "pubmed_no_title.nbib, line 92: record 3 has no title (TI/BTI) field"
    assert "\n" not in str(info.value)


def test_skip_bad_returns_good_records_and_why_others_were_left_out():
    result = read_file(DATA / "pubmed_no_title.nbib", skip_bad=True)
    assert [r.pmid for r in result.records] == ["39000001", "39000002"]
    assert len(result.skipped) == 1
    assert result.skipped[0].location == "line 92"
    assert "no title" in result.skipped[0].problem


def test_pubmed_xml_fields():
    crps, german, book = read_file(DATA / "pubmed.xml").records
    assert crps.title.startswith("Low-dose naltrexone in complex regional pain syndrome: an open-label pilot study")
    assert crps.abstract.split(": ")[0] == "BACKGROUND"
    assert crps.abstract.index("METHODS:") < crps.abstract.index("RESULTS:") < crps.abstract.index("CONCLUSIONS:")
    assert "(p < 0.01)" in crps.abstract  # inline <i> kept as text, entity decoded
    assert crps.authors == ("Sturn, Katharina M", "Collin, Mark", "CRPS Network Investigators")
    assert crps.doi == "10.1002/ejp.1488" and crps.pmid == "39000011" and crps.year == 2020
    assert crps.journal == "European journal of pain (London, England)"
    assert "Complex Regional Pain Syndromes" in crps.keywords and "neuroinflammation" in crps.keywords
    assert german.year == 2016 and german.language == "ger" and "Review" in german.publication_types
    assert book.pmid == "39000013" and book.year == 2022 and book.title == "Naltrexone"


def test_truncated_xml_is_a_read_error_with_line():
    with pytest.raises(ReadError, match=r"^pubmed_truncated\.xml, line \d+: XML is not well-formed \(the file looks truncated\)"):
        read_file(DATA / "pubmed_truncated.xml")


@pytest.mark.parametrize("name, entity", [("billion_laughs.xml", "lol"), ("external_entity.xml", "secret")])
def test_xml_entities_are_refused_not_expanded(name, entity):
    with pytest.raises(ReadError) as info:
        read_file(DATA / name)
    message = str(info.value)
    assert message.startswith(f"{name}: refused to read")
    assert repr(entity) in message and "\n" not in message
    assert "root:" not in message  # /etc/passwd was not read


def test_wos_tab_fields_and_both_encodings_agree():
    utf8 = read_file(DATA / "wos_savedrecs_utf8.txt").records
    utf16 = read_file(DATA / "wos_savedrecs_utf16.txt").records
    assert [r.id for r in utf8] == [r.id for r in utf16]
    trial, meeting, in_vitro = utf8
    assert trial.authors == ("Younger, Jarred", "Noor, Noorulain", "McCue, Rebecca")  # AF preferred
    assert trial.provenance[0].source_id == "WOS:000630000000001"
    assert trial.journal == "PAIN MEDICINE" and '("LDN")' in trial.abstract
    assert meeting.publication_types == ("Meeting Abstract",) and meeting.doi == ""
    assert in_vitro.year == 2022  # from the early-access date when PY is empty


def test_wos_plain_fields():
    trial, meeting = read_file(DATA / "wos_plain.txt").records
    assert trial.title == "Low-dose naltrexone for fibromyalgia: a randomised, placebo-controlled, crossover trial"
    assert trial.authors == ("Younger, Jarred", "Noor, Noorulain", "McCue, Rebecca")
    assert trial.keywords[:3] == ("Chronic pain", "Fibromyalgia", "Low-dose naltrexone")
    assert meeting.provenance[0].source_id == "WOS:000530000000002"


def test_wos_plain_truncated_names_the_record():
    with pytest.raises(ReadError, match=r"wos_plain_truncated\.txt, line 48: record 2 has no end tag \(ER\)"):
        read_file(DATA / "wos_plain_truncated.txt")


def test_wos_utf16_without_bom_is_a_clear_error_and_readable_with_encoding():
    with pytest.raises(ReadError, match="UTF-16 without a byte-order mark; pass encoding='utf-16-le'"):
        read_file(DATA / "wos_savedrecs_no_bom.txt")
    assert len(read_file(DATA / "wos_savedrecs_no_bom.txt", encoding="utf-16-le").records) == 3


def test_latin1_file_read_as_utf8_is_a_clear_error():
    with pytest.raises(ReadError) as info:
        read_file(DATA / "endnote_latin1.ris")
    assert str(info.value).startswith("endnote_latin1.ris, line 3: byte 0xeb is not valid UTF-8")
    assert "encoding='cp1252'" in str(info.value)  # (it decodes there: Windows-1252 holds Latin-1's letters)
    for encoding in ("latin-1", "cp1252"):
        record = read_file(DATA / "endnote_latin1.ris", encoding=encoding).records[0]
        assert record.authors[1] == "Noël, Noémie"


def test_windows_1252_curly_quotes_are_read_as_the_advice_says(tmp_path):
    # Excel's CSV on Windows: curly quotes and dashes are 0x91-0x97, control characters in Latin-1
    path = tmp_path / "excel.csv"
    path.write_bytes("title,abstract\nCrohn\u2019s disease \u2013 a \u201cpilot\u201d study,none\n".encode("cp1252"))
    with pytest.raises(ReadError, match="--encoding cp1252"):
        read_file(path)
    assert read_file(path, encoding="cp1252").records[0].title == "Crohn\u2019s disease \u2013 a \u201cpilot\u201d study"
    with pytest.raises(ReadError, match=r"excel\.csv: unknown encoding 'nonsense'"):
        read_file(path, encoding="nonsense")


def test_unreadable_empty_and_unknown_files(tmp_path):
    with pytest.raises(ReadError, match=r"^missing\.ris: cannot read the file"):
        read_file(tmp_path / "missing.ris")
    (tmp_path / "empty.ris").write_text("")
    with pytest.raises(ReadError, match=r"^empty\.ris: the file is empty"):
        read_file(tmp_path / "empty.ris")
    (tmp_path / "notes.txt").write_text("just some notes\nnothing bibliographic\n")
    with pytest.raises(ReadError, match="cannot tell the export format"):
        read_file(tmp_path / "notes.txt")
    with pytest.raises(ReadError, match="unknown format 'bibtex'"):
        read_file(DATA / "embase.ris", format="bibtex")


def test_garbage_xlsx_is_a_read_error(tmp_path):
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ReadError, match=r"^broken\.xlsx: not a readable \.xlsx workbook"):
        read_file(tmp_path / "broken.xlsx")


@pytest.mark.parametrize(
    "name, content_from, expected",
    [
        ("export.txt", "pubmed.nbib", "medline"),
        ("export.txt", "wos_plain.txt", "wos-plain"),
        ("export.txt", "wos_savedrecs_utf8.txt", "wos-tab"),
        ("export.txt", "wos_savedrecs_utf16.txt", "wos-tab"),
        ("export.txt", "embase.ris", "ris"),
        ("export.xml", "pubmed.xml", "pubmed-xml"),
        ("export.nbib", "pubmed.nbib", "medline"),
        ("export.ris", "pubmed.nbib", "medline"),  # content beats a wrong extension
        ("export.dat", "records.xlsx", "xlsx"),
        ("export.csv", "records.csv", "csv"),
        ("export.txt", "records.tsv", "tsv"),
    ],
)
def test_format_sniffed_from_content_not_only_extension(tmp_path, name, content_from, expected):
    path = tmp_path / name
    shutil.copy(DATA / content_from, path)
    assert detect_format(path) == expected
    assert read_file(path).format == expected


def test_read_result_is_frozen():
    result = read_file(DATA / "embase.ris")
    with pytest.raises(FrozenInstanceError):
        result.format = "csv"


def test_write_file_dispatches_on_extension(tmp_path):
    records = read_file(DATA / "pubmed.nbib").records
    for extension, fmt in [(".nbib", "medline"), (".xml", "pubmed-xml"), (".ris", "ris"), (".csv", "csv"),
                           (".tsv", "tsv"), (".xlsx", "xlsx")]:
        path = tmp_path / f"out{extension}"
        write_file(records, path)
        back = read_file(path)
        assert back.format == fmt
        assert [r.id for r in back.records] == [r.id for r in records]
    with pytest.raises(ValueError, match="cannot tell the format"):
        write_file(records, tmp_path / "out.txt")
    with pytest.raises(ValueError, match="cannot carry screening decisions"):
        write_file(records, tmp_path / "out.nbib", decisions={records[0].id: {"label": "include"}})


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_round_trips_the_fixture_records(tmp_path, fmt):
    records = read_file(DATA / "pubmed.nbib").records + read_file(DATA / "embase.ris").records
    path = tmp_path / "out"
    write_file(records, path, format=fmt)
    back = read_file(path, format=fmt).records
    assert [r.id for r in back] == [r.id for r in records]
    assert [r.title for r in back] == [r.title for r in records]
    assert [r.abstract for r in back] == [r.abstract for r in records]
    assert [r.pmid for r in back] == [r.pmid for r in records]
    assert [r.doi for r in back] == [r.doi for r in records]


def test_module_load_and_loads_follow_json():
    text = (DATA / "pubmed.nbib").read_text(encoding="utf-8")
    assert [r.id for r in medline.loads(text)] == [r.id for r in medline.load(DATA / "pubmed.nbib")]
    assert [r.id for r in medline.load(io.StringIO(text))] == [r.id for r in medline.loads(text)]
    with open(DATA / "pubmed.xml", "rb") as handle:
        assert len(pubmed_xml.load(handle)) == 3
    assert len(wos.load(DATA / "wos_savedrecs_utf16.txt")) == 3
    assert len(wos.loads(wos.dumps(medline.loads(text)))) == 3
    assert medline.loads(medline.dumps(medline.loads(text))) == medline.loads(text)


def test_medline_writer_wraps_long_fields_with_six_spaces():
    text = medline.dumps([Record(title="word " * 40, abstract="x")])
    lines = text.splitlines()
    assert all(len(line) <= 82 for line in lines)
    assert any(line.startswith("      word") for line in lines)
    assert lines[0] == "PMID-"


def test_decode_bytes_reports_the_line_of_the_bad_byte():
    data = "TY  - JOUR\nTI  - ok\nAU  - Noël\n".encode("latin-1")
    with pytest.raises(ReadError, match=r"^x\.ris, line 3: byte 0xeb"):
        decode_bytes(data, "x.ris")
    assert decode_bytes(data, "x.ris", "latin-1").endswith("Noël\n")


def test_wos_tab_truncated_row_is_a_bad_record():
    text = (DATA / "wos_savedrecs_utf8.txt").read_text(encoding="utf-8-sig")
    truncated = text[: text.index("Illustrative fixture meeting abstract")]
    with pytest.raises(ReadError, match=r"^<string>, line 3: record 2 has \d+ columns, the header \d+ \(truncated\?\)"):
        wos.loads(truncated)


def test_medline_collective_author_keeps_its_place():
    [record] = medline.loads("PMID- 1\nTI  - x\nFAU - Chen, Wei\nAU  - Chen W\nCN  - LDN Study Group\nFAU - Li, Na\n")
    assert record.authors == ("Chen, Wei", "LDN Study Group", "Li, Na")


def test_byte_order_mark_in_text_given_to_loads_is_ignored():
    from ldnscreen.io import ris

    assert len(ris.loads("\ufeffTY  - JOUR\nTI  - x\nER  - \n")) == 1
    assert len(medline.loads("\ufeffPMID- 1\nTI  - x\n")) == 1


@pytest.mark.parametrize(
    "name, where",
    [("pubmed_no_title.nbib", "line 92"), ("pubmed_truncated.xml", "line 57"), ("billion_laughs.xml", ""),
     ("external_entity.xml", ""), ("embase_missing_er.ris", "line 38"), ("endnote_latin1.ris", "line 3"),
     ("wos_savedrecs_no_bom.txt", "line 1"), ("wos_plain_truncated.txt", "line 48"), ("no_title.csv", "line 1")],
)
def test_every_malformed_fixture_gives_one_line_naming_file_and_place(name, where):
    with pytest.raises(ReadError) as info:
        read_file(DATA / name)
    message = str(info.value)
    assert "\n" not in message and len(message) < 300
    assert message.startswith(f"{name}, {where}: " if where else f"{name}: ")
    assert (info.value.file, info.value.location) == (name, where)
