"""Abstraction table export (CSV and xlsx) with formula escaping."""

import csv
from pathlib import Path

import pytest

from ldnscreen.extract import extract_records, read_table, table_rows, write_table
from ldnscreen.extract.table import COLUMNS, escape_cell, unescape_cell

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def extractions():
    with open(DATA / "extract_abstracts.csv", newline="", encoding="utf-8") as handle:
        return extract_records(list(csv.DictReader(handle)), model="rules")


@pytest.mark.parametrize("value", ["=1+1", "+1", "-5 mg", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_cells_are_escaped(value):
    assert escape_cell(value) == "'" + value
    assert unescape_cell(escape_cell(value)) == value


def test_plain_cells_untouched():
    assert escape_cell("4.5 mg daily") == "4.5 mg daily"
    assert unescape_cell("'quoted'") == "'quoted'"


def test_rows_hold_values_and_their_sentences(extractions):
    rows = {r["record_id"]: r for r in table_rows(extractions)}
    assert rows["ldn1"]["sample_size"] == "31"
    assert rows["ldn1"]["doses"] == "naltrexone low dose; naltrexone 4.5 mg daily"
    assert "received naltrexone 4.5 mg/day" in rows["ldn1"]["dose_evidence"]
    assert rows["ldn2"]["doses"] == "naltrexone low dose; naltrexone 1-4.5 mg at bedtime"
    assert "Complex regional pain syndrome type 1" in rows["ldn2"]["conditions"]
    assert rows["ldn3"]["sample_size"] == "3993"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_round_trip(tmp_path, extractions, suffix):
    path = write_table(extractions, tmp_path / f"table{suffix}")
    assert read_table(path) == table_rows(extractions)


def test_csv_cells_escaped_on_disk(tmp_path, extractions):
    path = write_table(extractions, tmp_path / "table.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = {r["record_id"]: r for r in csv.DictReader(handle)}
    assert list(rows["ldn3"]) == list(COLUMNS)
    assert rows["ldn3"]["title"] == "'=HYPERLINK(\"http://example.org\")"
    assert rows["ldn3"]["sample_size_evidence"].startswith("'-Ten healthy volunteers")


def test_xlsx_cells_are_strings_not_formulas(tmp_path, extractions):
    from openpyxl import load_workbook

    path = write_table(extractions, tmp_path / "table.xlsx")
    sheet = load_workbook(path).active
    titles = {row[0].value: row[1] for row in sheet.iter_rows(min_row=2)}
    assert titles["ldn3"].value == "'=HYPERLINK(\"http://example.org\")"
    assert titles["ldn3"].data_type == "s"
