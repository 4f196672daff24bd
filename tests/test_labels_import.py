"""Importing decisions made elsewhere: matching, label values, ambiguity, all-or-nothing."""

from __future__ import annotations

import csv

import pytest
from typer.testing import CliRunner

from ldnscreen.labels_import import LabelImportError, import_decisions, parse_decision
from ldnscreen.records import Provenance, Record
from ldnscreen.store import ReviewStore


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def review_store(tmp_path):
    records = [
        Record(title="Low-dose naltrexone for fibromyalgia", doi="10.1000/fm.1", pmid="111",
               provenance=(Provenance("pubmed", "p.nbib", 0, "111"),)),
        Record(title="Low-dose naltrexone in CRPS: a case series", pmid="222",
               provenance=(Provenance("asreview", "a.csv", 1, "7"),)),
        Record(title="Naltrexone in rats", abstract="Rats.", doi="10.1000/rat"),
        Record(title="Same title twice", abstract="First of two.", year=2001),
        Record(title="Same title twice", abstract="Second of two.", year=2002),
    ]
    store = ReviewStore.create(tmp_path / "review")
    store.add_records(records, file_name="records", sha256="1" * 64)
    yield store, records
    store.close()


def test_parse_decision_values():
    assert {parse_decision(v) for v in ("include", "Included", "1", "YES", "y", "true", "ASReview_relevant")} == {"include"}
    assert {parse_decision(v) for v in ("exclude", "0", "no", "False", "irrelevant", "ASReview_irrelevant")} == {"exclude"}
    assert {parse_decision(v) for v in ("", " ", "-1", "ASReview_not_seen", None)} == {None}
    with pytest.raises(ValueError):
        parse_decision("2")


def test_rows_matched_by_id_doi_pmid_title_and_source_id(tmp_path, review_store):
    store, records = review_store
    path = _write(tmp_path / "d.csv",
                  "record_id,doi,pmid,title,label_included,reason,note\n"
                  f"{records[2].id},,,,0,animal model,\n"   # ldnscreen id
                  ",https://doi.org/10.1000/FM.1,,,1,,good\n"  # DOI, normalised
                  "7,,,,yes,,\n"                               # source id of another tool
                  ",,,NALTREXONE IN RATS!,0,,\n")              # title: same record as row 2 -> agrees
    report = import_decisions(store, path, reviewer="colleague")
    assert report.matched == 4 and not report.unmatched and not report.ambiguous
    assert report.matched_by == {"record id": 1, "doi": 1, "source id": 1, "title": 1}
    current = store.current_labels()
    assert current[records[0].id].label == "include" and current[records[0].id].note == "good"
    assert current[records[1].id].label == "include"
    assert current[records[2].id].reason == "animal model"
    assert {d.reviewer for d in current.values()} == {"colleague"}
    assert len(report.decisions) == 3  # two rows for the rat study, one decision


def test_ambiguous_unmatched_and_conflicting_rows_are_reported_not_applied(tmp_path, review_store):
    store, records = review_store
    path = _write(tmp_path / "d.csv",
                  "title,doi,pmid,decision\n"
                  "Same title twice,,,include\n"                     # two records share the title
                  "Naltrexone in rats,10.1000/fm.1,,exclude\n"       # title and DOI name different records
                  "A paper that is not in the review,,,exclude\n"    # unmatched
                  ",,222,include\n"                                  # conflicting pair for one record
                  "Low-dose naltrexone in CRPS: a case series,,,exclude\n"
                  ",,111,\n")                                         # no decision
    report = import_decisions(store, path)
    assert [r for r, _ in report.ambiguous] == [2, 3]
    assert set(report.ambiguous[0][1]) == {records[3].id, records[4].id}
    assert report.unmatched == (4,)
    assert report.conflicting == ((records[1].id, (5, 6)),)
    assert report.unlabelled == (7,)
    assert report.planned == () and store.decisions() == []
    assert "ambiguous rows: 2, 3" in report.summary()


def test_bad_value_names_file_and_row_and_writes_nothing(tmp_path, review_store):
    store, records = review_store
    path = _write(tmp_path / "bad.csv", f"record_id,included\n{records[0].id},1\n{records[1].id},perhaps\n")
    with pytest.raises(LabelImportError, match=r"bad\.csv: row 3, column 'included': 'perhaps'"):
        import_decisions(store, path)
    assert store.decisions() == []


def test_one_transaction_all_or_nothing(tmp_path, review_store, monkeypatch):
    store, records = review_store
    path = _write(tmp_path / "d.csv", "record_id,label\n" + "".join(f"{r.id},1\n" for r in records[:3]))
    calls = []
    original = store._insert_decision

    def fail_on_third(db, *args):
        calls.append(args)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return original(db, *args)

    monkeypatch.setattr(store, "_insert_decision", fail_on_third)
    with pytest.raises(RuntimeError):
        import_decisions(store, path)
    monkeypatch.undo()
    assert store.decisions() == []


def test_asreview_style_export_and_stage_columns(tmp_path, review_store):
    store, records = review_store
    path = _write(tmp_path / "asreview.csv",
                  "record_id,title,label_abstract_screening,label_included\n"
                  f"7,x,1,0\n"
                  f"{records[0].id},y,1,1\n")
    report = import_decisions(store, path, stage="title-abstract")
    assert report.label_column == "label_abstract_screening" and report.included == 2
    report = import_decisions(store, path, stage="full-text")
    assert report.label_column == "label_included"
    assert store.current_labels("full-text")[records[1].id].label == "exclude"
    again = import_decisions(store, path, stage="full-text")
    assert again.unchanged == 2 and again.planned == ()


def test_an_asreview_ris_export_is_read_as_its_decisions(tmp_path, review_store):
    # ASReview writes its decisions into RIS notes; ldnscreen's own RIS export does the same
    store, records = review_store
    path = _write(tmp_path / "asreview.ris",
                  "TY  - JOUR\nTI  - Low-dose naltrexone for fibromyalgia\nDO  - 10.1000/fm.1\nN1  - ASReview_relevant\nER  - \n"
                  "TY  - JOUR\nTI  - Naltrexone in rats\nDO  - 10.1000/rat\nN1  - ASReview_irrelevant\nER  - \n"
                  "TY  - JOUR\nTI  - Not seen yet\nN1  - ASReview_not_seen\nER  - \n")
    report = import_decisions(store, path)
    assert report.label_column == "label_included" and (report.included, report.excluded) == (1, 1)
    assert {rid: d.label for rid, d in store.current_labels().items()} == {records[0].id: "include",
                                                                           records[2].id: "exclude"}
    broken = _write(tmp_path / "cut.ris", "TY  - JOUR\nTI  - Naltrexone in rats\n")
    with pytest.raises(LabelImportError, match=r"cut\.ris.*no end tag"):
        import_decisions(store, broken)


def test_a_decision_table_with_another_extension_is_still_a_table(tmp_path, review_store):
    store, records = review_store
    path = _write(tmp_path / "decisions.txt", f"record_id;title;included\n{records[0].id};x;yes\n")
    assert import_decisions(store, path, dry_run=True).included == 1


def test_the_label_column_that_holds_labels_is_chosen(tmp_path, review_store):
    # ldnscreen's CSV export: an empty decision column beside the records' imported labels
    store, records = review_store
    path = _write(tmp_path / "export.csv", f"record_id,title,label_included,decision\n{records[0].id},x,1,\n")
    report = import_decisions(store, path)
    assert report.label_column == "label_included" and report.included == 1


def test_xlsx_spreadsheet_and_dry_run(tmp_path, review_store):
    from openpyxl import Workbook

    store, records = review_store
    book = Workbook()
    sheet = book.active
    sheet.append(["Title", "PMID", "Decision", "Reviewer"])
    sheet.append(["Low-dose naltrexone for fibromyalgia", 111, "Include", "AB"])
    sheet.append([None, 222, 0, None])
    book.save(tmp_path / "sheet.xlsx")
    report = import_decisions(store, tmp_path / "sheet.xlsx", dry_run=True)
    assert (report.matched, report.included, report.excluded) == (2, 1, 1)
    assert store.decisions() == []
    import_decisions(store, tmp_path / "sheet.xlsx", reviewer="CD")
    assert sorted(d.reviewer for d in store.decisions()) == ["AB", "CD"]


def test_missing_columns_are_clear_errors(tmp_path, review_store):
    store, _ = review_store
    with pytest.raises(LabelImportError, match="no label column"):
        import_decisions(store, _write(tmp_path / "a.csv", "title,comment\nx,y\n"))
    with pytest.raises(LabelImportError, match="no column to match"):
        import_decisions(store, _write(tmp_path / "b.csv", "name,label\nx,1\n"))
    with pytest.raises(LabelImportError, match="no column 'verdict'"):
        import_decisions(store, _write(tmp_path / "c.csv", "title,label\nx,1\n"), label_column="verdict")


def test_label_cli(tmp_path, review_store):
    from ldnscreen.cli import app

    store, records = review_store
    path = str(store.path)
    good = _write(tmp_path / "good.csv", f"record_id,included\n{records[0].id},1\n{records[2].id},0\nnowhere,1\n")
    bad = _write(tmp_path / "bad.csv", f"record_id,included\n{records[0].id},perhaps\n")
    store.close()
    runner = CliRunner()
    result = runner.invoke(app, ["label", path, str(bad)])
    assert result.exit_code == 1
    assert "bad.csv: row 2" in result.output
    result = runner.invoke(app, ["label", path, str(good), "--reviewer", "jb"])
    assert result.exit_code == 0, result.output
    assert "matched 2" in result.output and "unmatched 1" in result.output
    with ReviewStore.open(path) as reopened:
        assert {d.label for d in reopened.decisions()} == {"include", "exclude"}


def test_demo_labels_import_at_both_stages(tmp_path):
    """The demo's labels.csv (source ids, per-row stage) imported into a review of the demo exports."""
    from pathlib import Path

    demo = Path(__file__).resolve().parents[1] / "corpora" / "ldn_review" / "demo"
    if not (demo / "labels.csv").exists():
        pytest.skip("corpora/ldn_review/demo is not there")
    with ReviewStore.create(tmp_path / "demo") as store:
        for name in ("pubmed.nbib", "embase.ris", "wos.txt"):
            store.import_file(demo / name)
        n = len(store.active_ids())
        report = import_decisions(store, demo / "labels.csv")
        # 81 rows, some copies identical across exports (one record each): every row matched
        assert report.matched == report.rows == 81 and not report.unmatched and not report.ambiguous
        assert len(report.planned) == n and not report.conflicting
        current = store.current_labels()
        # full-text exclusions passed title-abstract: included there
        rows = list(csv.DictReader((demo / "labels.csv").open(encoding="utf-8")))
        ta_excluded = sum(r["decision"] == "exclude" and r["stage"] == "title-abstract" for r in rows)
        ft_excluded = sum(r["decision"] == "exclude" and r["stage"] == "full-text" for r in rows)
        excluded = sum(d.label == "exclude" for d in current.values())
        assert 0 < excluded <= ta_excluded and len(current) == n
        assert sum(d.label == "include" for d in current.values()) > ft_excluded > 0
        assert {d.reason for d in current.values() if d.label == "exclude"} <= {
            "not about LDN", "not about pain", "review article", "conference abstract", "no English translation"}
        full = import_decisions(store, demo / "labels.csv", stage="full-text")
        assert len(full.other_stage) == ta_excluded
        assert {d.reason for d in store.current_labels("full-text").values() if d.label == "exclude"} >= {
            "animal model", "in vitro"}


def test_reasons_not_in_the_criteria_are_flagged(tmp_path):
    from pathlib import Path

    criteria = (Path(__file__).resolve().parents[1] / "corpora" / "ldn_review" / "criteria.toml").read_text()
    with ReviewStore.create(tmp_path / "r", criteria_text=criteria) as store:
        records = [Record(title="Naltrexone in rats"), Record(title="Aspirin for headache")]
        store.add_records(records, file_name="x", sha256="2" * 64)
        path = _write(tmp_path / "d.csv", "title,label,reason\nNaltrexone in rats,0,not about pain\n"
                                          "Aspirin for headache,0,wrong drug\n")
        report = import_decisions(store, path)
        assert report.unknown_reasons == ("wrong drug",)
        assert "reasons not in the criteria: wrong drug" in report.summary()
        assert store.current_labels()[records[1].id].reason == "wrong drug"  # kept as given
