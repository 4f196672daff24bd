"""The foundation commands end to end, as a reviewer with three search exports runs them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ldnscreen.cli import app
from ldnscreen.store import ReviewStore

from .conftest import CRITERIA, DATA, DEMO
from .formats_helper import FILE_NAMES, convert

runner = CliRunner()


def invoke(*args, input=None):
    result = runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
    return result


@pytest.fixture
def review(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("init", "ldn-review", "--criteria", CRITERIA)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ldn-review.ldnscreen").exists()
    return tmp_path / "ldn-review.ldnscreen"


def test_five_commands_on_the_illustrative_exports(review, tmp_path):
    files = [DEMO / "pubmed.nbib", DEMO / "embase.ris", DEMO / "wos.txt"]
    result = invoke("import", "ldn-review", *files)
    assert result.exit_code == 0, result.output
    with ReviewStore.open(review) as store:
        identified = store.counts()["identified"]
        before = len(store.active_ids())
    assert identified == 25 + 25 + 31

    again = invoke("import", "ldn-review", *files)
    assert again.exit_code == 0 and "already imported" in again.output
    with ReviewStore.open(review) as store:
        assert store.counts()["identified"] == identified

    shown = invoke("dedupe", "ldn-review", input="n\n")
    assert "duplicate groups" in shown.output and "nothing merged" in shown.output
    with ReviewStore.open(review) as store:
        assert len(store.active_ids()) == before

    merged = invoke("dedupe", "ldn-review", "--yes")
    assert merged.exit_code == 0 and "merged" in merged.output
    with ReviewStore.open(review) as store:
        after = len(store.active_ids())
        groups = store.duplicate_groups()
        multi = [r for r in store.records() if len({p.database for p in r.provenance}) > 1]
    assert after < before and groups and multi  # provenance from several databases kept

    assert invoke("status", "ldn-review", "--format", "xml").output.strip() == "error: --format must be table or json, not 'xml'"
    status = invoke("status", "ldn-review", "--format", "json")
    counts = json.loads(status.output)
    assert counts["by_database"] == {"embase": 25, "pubmed": 25, "wos": 31}
    assert counts["after_duplicates_removed"] == after
    assert counts["title-abstract"]["left"] == after

    for fmt in ("ris", "csv", "xlsx"):
        out = tmp_path / f"out.{fmt}"
        result = invoke("export", "ldn-review", "--format", fmt, "-o", out)
        assert result.exit_code == 0 and out.stat().st_size > 0

    from ldnscreen.io import read_file

    assert len(read_file(tmp_path / "out.ris").records) == after
    with open(tmp_path / "out.csv", newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == after and any("wos" in r["databases"] and "pubmed" in r["databases"] for r in rows)

    undo = invoke("dedupe", "ldn-review", "--undo", "0")
    assert undo.exit_code == 0
    with ReviewStore.open(review) as store:
        assert len(store.active_ids()) == after + len(groups[-1]["member_ids"])


def test_dedupe_after_screening_keeps_every_decision_and_names_the_copies_decided_differently(review):
    from ldnscreen.commands import plan_dedupe

    assert invoke("import", "ldn-review", DEMO / "pubmed.nbib", DEMO / "embase.ris").exit_code == 0
    with ReviewStore.open(review) as store:
        groups = [[m.id for m in members] for _, members, _, _ in plan_dedupe(store).groups]
        first, second = groups[0][:2], groups[1][:2]
        store.decide(first[1], "include", reviewer="ann")  # a copy, not the record dedupe keeps
        store.decide(first[0], "exclude", reason="review article", reviewer="bob")
        store.decide(second[1], "include", reviewer="ann")
    merged = invoke("dedupe", "ldn-review", "--yes")
    assert merged.exit_code == 0
    text = " ".join(merged.output.split())
    assert "were decided differently at title-abstract: include (ann" in text and "the latest (exclude) stands" in text
    with ReviewStore.open(review) as store:
        current = store.current_labels()
        assert current[first[0]].label == "exclude" and current[second[0]].label == "include"
        assert store.counts()["title-abstract"]["screened"] == 2


@pytest.mark.parametrize("fmt", sorted(FILE_NAMES))
def test_five_commands_on_a_shared_corpus_in_each_export_format(review, tmp_path, shared_screening, fmt):
    source = shared_screening / "cohen2006_antihistamines.csv"
    exported = convert(source, fmt, tmp_path / "exports", limit=150)
    assert invoke("import", "ldn-review", exported).exit_code == 0
    with ReviewStore.open(review) as store:
        n = len(store.active_ids())
    assert n >= 140
    assert invoke("dedupe", "ldn-review", "--yes").exit_code == 0
    status = json.loads(invoke("status", "ldn-review", "--format", "json").output)
    assert status["identified"] >= 140
    out = tmp_path / "out.csv"
    assert invoke("export", "ldn-review", "-o", out).exit_code == 0
    with open(out, newline="", encoding="utf-8-sig") as f:
        assert len(list(csv.DictReader(f))) == status["after_duplicates_removed"]


def test_bad_file_stops_with_one_line_and_keeps_the_store(review):
    assert invoke("import", "ldn-review", DEMO / "pubmed.nbib").exit_code == 0
    with ReviewStore.open(review) as store:
        before = store.counts()
    result = invoke("import", "ldn-review", DATA / "pubmed_no_title.nbib")
    assert result.exit_code == 1
    message = result.output.strip()
    assert "pubmed_no_title.nbib" in message and len(message.splitlines()) <= 2
    with ReviewStore.open(review) as store:
        assert store.counts() == before
    skipped = invoke("import", "ldn-review", DATA / "pubmed_no_title.nbib", "--skip-bad")
    assert skipped.exit_code == 0 and "skipped" in skipped.output
    with ReviewStore.open(review) as store:
        assert store.counts()["skipped_at_import"] >= 1


def test_a_bad_file_among_several_names_what_was_imported_before_it(review):
    result = invoke("import", "ldn-review", DEMO / "pubmed.nbib", DATA / "pubmed_no_title.nbib", DEMO / "wos.txt")
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert message.startswith("error: pubmed_no_title.nbib, line")
    assert ("nothing of pubmed_no_title.nbib was stored, but the files before it were imported and stay in the "
            "review: pubmed.nbib (25 records added); not imported: wos.txt") in message
    with ReviewStore.open(review) as store:
        assert store.counts()["identified"] == 25  # the first file stays imported: one transaction per file


def test_missing_review_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("status", "nothing-here")
    assert result.exit_code == 1 and "no such review" in result.output


@pytest.mark.parametrize("command", [["import", DEMO / "embase.ris"], ["dedupe", "--yes"]])
def test_a_busy_review_is_a_one_line_error_naming_it(review, monkeypatch, command):
    import sqlite3

    from ldnscreen import store as store_module

    assert invoke("import", "ldn-review", DEMO / "pubmed.nbib", DEMO / "wos.txt").exit_code == 0
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT", 0.2)
    other = sqlite3.connect(review, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        result = invoke(command[0], "ldn-review", *command[1:])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]  # dedupe shows its plan before it merges
    assert last.startswith(f"error: {review.name} is busy: another process is writing"), result.output
    assert "Traceback" not in result.output


def _unprivileged(args, cwd):
    """Run the CLI where file permissions apply (root ignores them): as is, or under setpriv without its overrides."""
    import os
    import shutil
    import subprocess
    import sys

    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permissions cannot be tested")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([*prefix, sys.executable, "-m", "ldnscreen", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, input="i\nq\n", timeout=300)


@pytest.mark.parametrize("where", ["read-only file", "read-only folder"])
def test_read_only_review_is_read_by_reading_commands_and_refused_by_writing_ones(review, tmp_path, where):
    assert invoke("import", "ldn-review", DEMO / "pubmed.nbib").exit_code == 0
    locked = tmp_path / "locked"
    locked.mkdir()
    path = locked / "r.ldnscreen"
    path.write_bytes(review.read_bytes())
    (tmp_path / "out").mkdir()
    path.chmod(0o444 if where == "read-only file" else 0o644)
    locked.chmod(0o755 if where == "read-only file" else 0o555)
    try:
        for command in (["status"], ["queue", "-n", "2", "--format", "csv"], ["export", "-o", "out/r.csv"],
                        ["prisma", "-o", "out/p.png"]):
            result = _unprivileged([command[0], "locked/r", *command[1:]], tmp_path)
            assert result.returncode == 0, (command, result.stderr)
        problem = "locked/r.ldnscreen is read-only: " if where == "read-only file" else \
            "locked/r.ldnscreen: its folder locked is not writable"
        for command in (["screen"], ["label", DATA / "records.csv"], ["stop", "--force"]):
            result = _unprivileged([command[0], "locked/r", *command[1:]], tmp_path)
            assert result.returncode == 1 and result.stderr.startswith(f"error: {problem}"), (command, result.stderr)
            assert len(result.stderr.strip().splitlines()) == 1 and not result.stdout
    finally:
        locked.chmod(0o755)
    assert len((tmp_path / "out" / "r.csv").read_text().splitlines()) > 20


def test_writing_into_a_read_only_folder_is_one_line_naming_the_path(review, tmp_path):
    assert invoke("import", "ldn-review", DEMO / "pubmed.nbib").exit_code == 0
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        expected = {
            ("init", "locked/new"): "locked/new.ldnscreen: cannot create the review: its folder locked is not writable",
            ("export", "ldn-review", "-o", "locked/x.csv"): "locked/x.csv: cannot write the export",
            ("prisma", "ldn-review", "-o", "locked/p.png"): "locked/p.png: cannot write the flow diagram",
        }
        for command, message in expected.items():
            result = _unprivileged(command, tmp_path)
            assert result.returncode == 1 and result.stderr.startswith(f"error: {message}"), (command, result.stderr)
            assert len(result.stderr.strip().splitlines()) == 1
    finally:
        locked.chmod(0o755)
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("command", [["status"], ["export", "-o", "out.csv"], ["queue"]])
def test_a_damaged_review_is_a_one_line_error_naming_it(review, command):
    import sqlite3

    assert invoke("import", "ldn-review", DEMO / "pubmed.nbib").exit_code == 0
    db = sqlite3.connect(review)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'records'").fetchone()[0]
    db.close()
    with open(review, "r+b") as handle:  # the records table's first page overwritten, as a bad disk might
        handle.seek((root - 1) * page_size)
        handle.write(b"\xff" * page_size)
    result = invoke(command[0], "ldn-review", *command[1:])
    assert result.exit_code == 1 and result.output == "error: ldn-review.ldnscreen: database disk image is malformed\n"


def test_prisma_writes_the_flow_diagram(review, tmp_path):
    invoke("import", "ldn-review", DEMO / "pubmed.nbib", DEMO / "embase.ris")
    out = tmp_path / "prisma.png"
    result = invoke("prisma", "ldn-review", "-o", out)
    assert result.exit_code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    flow = json.loads(out.with_suffix(".json").read_text())
    assert flow["identified"] == 50


def test_stop_records_a_decision_only_when_the_rule_fires(review):
    invoke("import", "ldn-review", DEMO / "pubmed.nbib")
    with ReviewStore.open(review) as store:
        ids = store.active_ids()
        store.decide(ids[0], "include")
        store.decide(ids[1], "exclude", reason="review article")
    early = invoke("stop", "ldn-review")
    assert early.exit_code == 2 and "keep screening" in early.output
    with ReviewStore.open(review) as store:
        assert store.stops() == []
        for rid in ids[2:]:
            store.decide(rid, "exclude")
    fired = invoke("stop", "ldn-review", "--rule", "buscar", "--reviewer", "ann")
    assert fired.exit_code == 0 and "stop decision recorded" in fired.output
    with ReviewStore.open(review) as store:
        (stop,) = store.stops()
        assert stop.rule.startswith("buscar") and stop.p_value < 0.05 and stop.reviewer == "ann"
    status = invoke("status", "ldn-review")
    assert "stopped title-abstract" in status.output
    forced = invoke("stop", "ldn-review", "--rule", "knee", "--force")
    assert forced.exit_code == 0 and "forced" in forced.output


@pytest.mark.parametrize("content, problem", [(None, "cannot read the criteria file"),
                                              (b'name = "LDN"\n[[exclusion]]\npatterns = ["rat"]\n', "has no 'reason'"),
                                              (b"name = [unclosed", "Invalid"),
                                              ('name = "Naltrexone f\u00fcr Schmerz"'.encode("latin-1"),
                                               "cannot read the criteria file")])
def test_init_refuses_a_criteria_file_it_cannot_use(tmp_path, monkeypatch, content, problem):
    monkeypatch.chdir(tmp_path)
    criteria = tmp_path / "criteria.toml"
    if content is not None:
        criteria.write_bytes(content)
    result = invoke("init", "ldn-review", "--criteria", criteria)
    assert result.exit_code == 1 and "criteria.toml" in result.output and problem in result.output, result.output
    assert not (tmp_path / "ldn-review.ldnscreen").exists()  # no review made without its criteria
