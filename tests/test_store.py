"""The review store: schema versions, transactions, the append-only log, merges, and kills."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from ldnscreen.records import Provenance, Record
from ldnscreen.store import SCHEMA_VERSION, ReviewStore, StoreBusy, StoreError, review_path


def test_create_refuses_existing_and_open_requires_file(tmp_path):
    ReviewStore.create(tmp_path / "r").close()
    with pytest.raises(StoreError, match="already exists"):
        ReviewStore.create(tmp_path / "r")
    with pytest.raises(StoreError, match="no such review"):
        ReviewStore.open(tmp_path / "missing")


def test_wal_mode_and_schema_version(store):
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version == SCHEMA_VERSION
    rows = store._db.execute("SELECT version, name FROM migrations").fetchall()
    assert [tuple(r) for r in rows] == [(1, "initial schema")]


def _altered_review(tmp_path, sql: str):
    """A new review named ``r`` changed behind the store's back by ``sql`` (another tool, or a hand)."""
    ReviewStore.create(tmp_path / "r").close()
    db = sqlite3.connect(review_path(tmp_path / "r"))
    db.execute(sql)
    db.close()


def test_newer_schema_version_is_refused_with_both_versions(tmp_path):
    _altered_review(tmp_path, f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    with pytest.raises(StoreError) as info:
        ReviewStore.open(tmp_path / "r")
    message = str(info.value)
    assert "r.ldnscreen" in message and str(SCHEMA_VERSION + 3) in message and str(SCHEMA_VERSION) in message


def test_not_a_review_is_refused(tmp_path):
    other = tmp_path / "other.ldnscreen"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(StoreError, match="not an ldnscreen review"):
        ReviewStore.open(other)
    garbage = tmp_path / "garbage.ldnscreen"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="garbage.ldnscreen"):
        ReviewStore.open(garbage)


@pytest.mark.parametrize("table", ["decisions", "stops"])
def test_review_missing_a_table_is_refused_naming_it(tmp_path, table):
    _altered_review(tmp_path, f"DROP TABLE {table}")
    with pytest.raises(StoreError) as info:
        ReviewStore.open(tmp_path / "r")
    assert str(info.value) == f"{review_path(tmp_path / 'r')}: not a complete ldnscreen review (table {table} missing)"


def test_write_while_another_process_holds_the_lock_is_storebusy_naming_the_file(store, records):
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # as a long import in another process would
    store.busy_timeout = 0.2
    try:
        with pytest.raises(StoreBusy) as info:
            store.decide(records[0].id, "include")
        assert str(info.value).startswith(f"{store.path} is busy: another process is writing")
        assert "\n" not in str(info.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.decisions() == []  # nothing half-written; the same call now works
    assert store.decide(records[0].id, "include").label == "include"


def _deny_writing(monkeypatch, denied):
    """``os.access`` says ``denied`` cannot be written (root passes every permission check)."""
    real = os.access

    def access(path, mode, *args, **kwargs):
        if os.path.abspath(path) == os.path.abspath(denied) and mode & os.W_OK:
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


def test_read_only_review_is_refused_for_writing_and_opened_to_read(store, records, monkeypatch):
    store.decide(records[0].id, "include")
    path = store.path
    store.close()
    _deny_writing(monkeypatch, path)
    with pytest.raises(StoreError) as info:
        ReviewStore.open(path)  # refused before any work, not at the first decision
    assert str(info.value).startswith(f"{path} is read-only: this command writes to the review")
    with ReviewStore.open(path, readonly=True) as readonly:
        assert readonly.readonly and list(readonly.current_labels()) == [records[0].id]
        with pytest.raises(StoreError, match="is read-only"):
            readonly.decide(records[1].id, "include")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):  # the connection itself cannot write
            readonly._db.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")


def test_review_in_a_read_only_folder_is_refused_for_writing_naming_the_folder(store, monkeypatch):
    path = store.path
    store.close()
    _deny_writing(monkeypatch, path.parent)
    with pytest.raises(StoreError) as info:
        ReviewStore.open(path)
    message = str(info.value)
    assert message.startswith(f"{path}: its folder {path.parent} is not writable")
    assert f"{path.name}-wal" in message and "attempt to write" not in message


def test_create_where_the_folder_cannot_be_made_is_one_line_naming_it(tmp_path):
    (tmp_path / "notes.txt").write_text("a file where the review's folder would go")
    with pytest.raises(StoreError) as info:
        ReviewStore.create(tmp_path / "notes.txt" / "r")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'notes.txt' / 'r.ldnscreen'}: cannot create the review: cannot make")
    assert str(tmp_path / "notes.txt") in message


def test_reimport_adds_nothing(store, records):
    before = store.counts()
    summary = store.add_records(records[:3], file_name="pubmed.export", content=b"pubmed", database="pubmed")
    assert summary.already_imported and summary.records_added == 0
    assert store.counts() == before


def test_identical_citation_in_two_files_is_one_record_with_two_sources(store, records):
    copy = records[0].replace(provenance=(Provenance("wos", "wos.txt", 7, "WOS:1"),))
    summary = store.add_records([copy], file_name="wos.txt", content=b"wos", database="wos")
    assert (summary.records_added, summary.already_present) == (0, 1)
    rec = store.record(records[0].id)
    assert [p.database for p in rec.provenance] == ["pubmed", "wos"]
    assert store.counts()["identical_at_import"] == 1


def test_failed_import_changes_nothing(store, records):
    before = store.counts()
    bad = Record(title=None, id="rbad")  # title NOT NULL: the insert fails inside the transaction
    with pytest.raises(sqlite3.IntegrityError):
        store.add_records([records[0].replace(id="rnew", title="new"), bad], file_name="bad.ris",
                          content=b"bad", database="embase")
    assert store.counts() == before
    assert [f["name"] for f in store.files()] == ["pubmed.export", "embase.export"]


def test_decision_log_is_append_only_and_undo_is_a_row(store, records):
    d1 = store.decide(records[0].id, "include", reviewer="ann")
    d2 = store.decide(records[2].id, "exclude", reason="animal model", reviewer="ann")
    assert list(store.current_labels()) == [records[0].id, records[2].id]
    undone = store.undo_last(reviewer="ann")
    assert undone.id == d2.id
    assert list(store.current_labels()) == [records[0].id]
    log = store.decisions(include_log=True)
    assert [d.label for d in log] == ["include", "exclude", "undo"] and log[-1].undoes == d2.id
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store._db.execute("UPDATE decisions SET label = 'exclude' WHERE id = :id", {"id": d1.id})
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store._db.execute("DELETE FROM decisions")


def test_latest_decision_wins_and_stages_are_separate(store, records):
    store.decide(records[0].id, "exclude", reason="not about pain")
    store.decide(records[0].id, "include")
    store.decide(records[0].id, "exclude", stage="full-text", reason="no pain data")
    assert store.current_labels()[records[0].id].label == "include"
    assert store.current_labels("full-text")[records[0].id].reason == "no pain data"
    counts = store.counts()
    assert counts["title-abstract"]["included"] == 1 and counts["full-text"]["excluded"] == 1


@pytest.mark.parametrize("label,stage", [("maybe", "title-abstract"), ("include", "abstract")])
def test_bad_label_or_stage_is_refused(store, records, label, stage):
    with pytest.raises(StoreError):
        store.decide(records[0].id, label, stage=stage)
    assert store.decisions(include_log=True) == []


def test_decide_many_is_all_or_nothing(store, records):
    with pytest.raises(StoreError):
        store.decide_many([{"record_id": records[0].id, "label": "include"},
                           {"record_id": "r-unknown", "label": "exclude"}])
    assert store.decisions(include_log=True) == []


def test_merge_unions_provenance_and_undo_restores(store, records):
    primary = records[1].replace(abstract="filled from the other export")
    summary = store.merge_duplicates([(primary, [records[1].id, records[4].id], "doi", 1.0)])
    assert summary.records_merged == 1
    active = {r.id: r for r in store.records()}
    assert records[4].id not in active
    assert {p.database for p in active[records[1].id].provenance} == {"pubmed", "embase"}
    assert active[records[1].id].abstract == "filled from the other export"
    assert store.counts()["duplicates_removed"] == 1
    store.undo_merge()
    active = {r.id: r for r in store.records()}
    assert records[4].id in active and active[records[1].id].abstract == ""
    with pytest.raises(StoreError, match="no merge to undo"):
        store.undo_merge()


def test_a_merge_keeps_the_copies_decisions_and_undo_gives_them_back(store, records):
    # decided before a late dedupe: one copy included (ann), the other excluded later (bob)
    store.decide(records[4].id, "include", reviewer="ann")
    store.decide(records[1].id, "exclude", reason="review article", reviewer="bob")
    store.decide(records[2].id, "exclude", reason="animal model")
    groups = [[records[1].id, records[4].id], [records[0].id, records[2].id]]
    [conflict] = store.decision_conflicts(groups)
    assert set(conflict["decisions"]) == {records[1].id, records[4].id}

    store.merge_duplicates([(records[1], [records[1].id, records[4].id], "doi", 1.0),
                            (records[0], [records[0].id, records[2].id], "fuzzy-title", 0.95)])
    current = store.current_labels()
    # the group's latest standing decision wins, under the record kept; the excluded copy merged
    # into an undecided record gives it its decision
    assert current[records[1].id].label == "exclude" and current[records[1].id].reviewer == "bob"
    assert current[records[0].id].reason == "animal model"
    assert records[4].id not in current and records[2].id not in current
    assert store.counts()["title-abstract"]["screened"] == 2
    # undoing bob's decision on the merged copy lets ann's inclusion stand for the study
    undone = store.undo_last(reviewer="bob")
    assert undone.reviewer == "bob" and store.current_labels()[records[1].id].label == "include"
    assert store.active_id(records[4].id) == records[1].id
    store.undo_merge()
    store.undo_merge()
    current = store.current_labels()
    assert current[records[4].id].label == "include" and current[records[2].id].reason == "animal model"
    assert records[1].id not in current and records[0].id not in current


def test_decision_conflicts_count_a_decision_carried_by_a_copy_merged_earlier(store, records):
    store.decide(records[3].id, "include", reviewer="ann")
    store.merge_duplicates([(records[5], [records[5].id, records[3].id], "doi", 1.0)])  # an earlier dedupe
    store.decide(records[0].id, "exclude", reason="review article", reviewer="bob")
    [conflict] = store.decision_conflicts([[records[5].id, records[0].id]])  # the next dedupe's plan
    assert {rid: d.label for rid, d in conflict["decisions"].items()} == {records[5].id: "include",
                                                                          records[0].id: "exclude"}


def test_a_full_text_decision_stands_only_while_its_record_is_included(store, records):
    store.decide(records[0].id, "include")
    store.decide(records[0].id, "include", stage="full-text")
    store.decide(records[2].id, "exclude", reason="animal model")
    store.decide(records[2].id, "include", stage="full-text")  # (the record was excluded first)
    assert set(store.current_labels("full-text")) == {records[0].id}
    store.decide(records[0].id, "exclude", reason="not about pain")  # relabelled at title-abstract
    counts = store.counts()
    assert counts["full-text"] == {"screened": 0, "included": 0, "excluded": 0, "exclusion_reasons": {}, "left": 0}
    store.decide(records[0].id, "include")  # and back: its full-text decision stands again
    assert store.counts()["full-text"]["included"] == 1


def test_claims_keep_two_sessions_off_one_record_and_lapse(store, records, monkeypatch):
    assert store.claimed("title-abstract") == set()  # (no claims table until the first claim)
    assert store.claim(records[0].id, "title-abstract", "ann")
    assert not store.claim(records[0].id, "title-abstract", "bob")  # on ann's screen
    assert store.claim(records[0].id, "full-text", "bob")  # another stage
    assert store.claimed("title-abstract", besides="bob") == {records[0].id}
    assert store.claimed("title-abstract", besides="ann") == set()
    assert store.claim(records[1].id, "title-abstract", "ann")  # ann moves on: one claim per session
    assert store.claimed("title-abstract") == {records[1].id}
    assert store.claimed("title-abstract", ttl=-1) == set()  # a crashed session's claim lapses
    assert store.claim(records[1].id, "title-abstract", "bob", ttl=-1)
    store.release_claims("bob")
    assert store.claimed("title-abstract") == set() and store.claimed("full-text") == set()
    assert store.decisions(include_log=True) == []  # claims are not decisions


def test_stop_decisions_are_recorded(store):
    stop = store.record_stop("buscar", {"target": 0.95, "confidence": 0.95}, 0.01, recall_estimate=0.97)
    assert store.stops()[0] == stop and store.stops()[0].params["target"] == 0.95


WRITER = textwrap.dedent(
    """
    import sys
    from ldnscreen.store import ReviewStore
    store = ReviewStore.open(sys.argv[1])
    ids = store.active_ids()
    i = 0
    while True:
        d = store.decide(ids[i % len(ids)], "include" if i % 3 else "exclude", reason="r%d" % i, reviewer="k")
        print(d.id, d.record_id, d.label, d.reason, flush=True)
        i += 1
    """
)

IMPORTER = textwrap.dedent(
    """
    import sys
    from ldnscreen.records import Record, Provenance
    from ldnscreen.store import ReviewStore
    store = ReviewStore.open(sys.argv[1])
    n = 0
    while True:
        recs = [Record(title="t %d %d" % (n, j), provenance=(Provenance("pubmed", "f%d" % n, j),)) for j in range(500)]
        store.add_records(recs, file_name="f%d" % n, content=b"f%d" % n, database="pubmed")
        print(n, flush=True)
        n += 1
    """
)


def _kill_after(cmd, seconds, env):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    time.sleep(seconds)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    return out.split("\n")[:-1]  # a line cut by the kill has no newline: it was never acknowledged


@pytest.mark.slow
def test_sigkill_never_loses_an_acknowledged_decision(store, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    path = str(store.path)
    store.close()
    rng = random.Random(7)
    acknowledged = []
    for _ in range(25):
        lines = _kill_after([sys.executable, "-c", WRITER, path], rng.uniform(0.3, 0.9), env)
        acknowledged += [line.split() for line in lines if line.strip()]
        with ReviewStore.open(path) as check:
            assert check._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            logged = {d.id: d for d in check.decisions(include_log=True)}
            for did, rid, label, reason in acknowledged:
                d = logged[int(did)]
                assert (d.record_id, d.label, d.reason) == (rid, label, reason)
    assert len(acknowledged) > 25  # the writers did get work done before each kill


@pytest.mark.slow
def test_sigkill_during_imports_leaves_whole_files_only(store):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    path = str(store.path)
    store.close()
    rng = random.Random(11)
    for _ in range(10):
        acknowledged = _kill_after([sys.executable, "-c", IMPORTER, path], rng.uniform(0.4, 1.2), env)
        with ReviewStore.open(path) as check:
            assert check._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            per_file = dict(check._db.execute("SELECT file, COUNT(*) FROM sources GROUP BY file_id").fetchall())
            assert all(n == 500 or f.endswith("export") for f, n in per_file.items())
            assert all(f"f{n}" in per_file for n in acknowledged)
            assert acknowledged
        # the next importer starts again at f0: files already imported are skipped by checksum
