"""`ldnscreen extract` through typer's CliRunner (rules-only pipeline, no trained model needed)."""

from pathlib import Path

from typer.testing import CliRunner

from ldnscreen.cli import app
from ldnscreen.extract import read_table
from ldnscreen.extract.table import records_to_extract

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def test_extract_from_review_included_only(store, tmp_path, records):
    store.decide(records[0].id, "include")
    store.decide(records[2].id, "exclude")
    path = str(store.path)
    store.close()
    out = tmp_path / "table.csv"
    result = runner.invoke(app, ["extract", path, "--included-only", "-o", str(out), "--model", "rules"])
    assert result.exit_code == 0, result.output
    assert "wrote 1 rows" in result.output
    [row] = read_table(out)
    assert row["record_id"] == records[0].id
    assert row["sample_size"] == "10"
    assert row["doses"] == "naltrexone low dose; naltrexone 4.5 mg"


def test_full_text_includes_win_over_title_abstract(store, records):
    store.decide(records[0].id, "include")
    store.decide(records[1].id, "include")
    store.decide(records[1].id, "include", stage="full-text")
    path = store.path
    store.close()
    assert [r.id for r in records_to_extract(path, included_only=True)] == [records[1].id]
    assert len(records_to_extract(path)) >= 4


def test_extract_from_export_file_to_xlsx(tmp_path):
    out = tmp_path / "table.xlsx"
    result = runner.invoke(app, ["extract", str(DATA / "extract_abstracts.csv"), "-o", str(out), "--model", "rules"])
    assert result.exit_code == 0, result.output
    rows = read_table(out)
    assert [r["sample_size"] for r in rows] == ["31", "2", "3993", ""]


def test_extract_unreadable_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "nothing.xyz"
    bad.write_text("\x00\x01 not an export")
    result = runner.invoke(app, ["extract", str(bad), "-o", str(tmp_path / "t.csv"), "--model", "rules"])
    assert result.exit_code == 1
    assert "error" in result.output.lower() or "error" in (result.stderr or "").lower()
