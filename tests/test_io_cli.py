"""`ldnscreen convert` through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ldnscreen.cli import app
from ldnscreen.io import read_file

DATA = Path(__file__).resolve().parent / "data"


def test_convert_wos_to_ris(tmp_path):
    out = tmp_path / "for_zotero.ris"
    result = CliRunner().invoke(app, ["convert", str(DATA / "wos_savedrecs_utf16.txt"), str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 3 wos records (wos-tab)" in result.output
    assert [r.id for r in read_file(out).records] == [r.id for r in read_file(DATA / "wos_savedrecs_utf16.txt").records]


def test_convert_reports_bad_records_in_one_line(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["convert", str(DATA / "pubmed_no_title.nbib"), str(tmp_path / "x.csv")])
    assert result.exit_code == 1
    assert "pubmed_no_title.nbib, line 92: record 3 has no title" in " ".join(result.output.split())
    result = runner.invoke(app, ["convert", str(DATA / "pubmed_no_title.nbib"), str(tmp_path / "x.csv"), "--skip-bad"])
    assert result.exit_code == 0 and "wrote 2 pubmed records" in result.output
    result = runner.invoke(app, ["convert", str(DATA / "endnote_latin1.ris"), str(tmp_path / "y.csv"),
                                 "--encoding", "latin-1"])
    assert result.exit_code == 0 and len(read_file(tmp_path / "y.csv").records) == 1
