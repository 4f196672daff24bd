"""The independent scorer ``benchmarks/score_order.py`` reads every table ``ldnscreen simulate`` reads, and agrees.

Each test simulates a small file with ldnscreen (``load_labelled_records``, ``simulate``,
``write_outputs``), rescores its ``order.csv`` with the script's command line from the input's
labels alone and compares with ``metrics.json``; the error tests check that a problem is one line
naming the file (and the row, column or record), not a traceback.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from pathlib import Path

import pytest

from ldnscreen.io import convert_file, write_file
from ldnscreen.records import Record
from ldnscreen.simulate import load_labelled_records, simulate, write_outputs

from .test_simulate import OTHER, RELEVANT, _score_order_module


def _rows(n: int = 40) -> list[dict]:
    """``n`` records, every fifth relevant, with ids R100, R101..."""
    rows = []
    for i in range(n):
        vocab = RELEVANT if i % 5 == 0 else OTHER
        words = [vocab[(i * 3 + k) % len(vocab)] for k in range(6)]
        rows.append({"record_id": f"R{100 + i}", "title": " ".join(words[:3]), "abstract": " ".join(words[3:]),
                     "label_included": int(i % 5 == 0)})
    return rows


def _write(path: Path, rows: list[dict], delimiter: str = ",", encoding: str = "utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _simulated(path: Path, out: Path, label: str = "label_included", seed: int = 1) -> dict:
    """``metrics.json`` of simulating ``path`` (written with ``order.csv`` into ``out``)."""
    result = simulate(load_labelled_records(path), label=label, seed=seed, progress=False)
    write_outputs(result, out)
    return json.loads((out / "metrics.json").read_text())


def _rescored(capsys, *args: str) -> dict:
    assert _score_order_module().main([str(a) for a in args]) == 0
    return json.loads(capsys.readouterr().out)


def _assert_agree(path: Path, tmp_path: Path, capsys, label: str = "label_included", *options: str) -> dict:
    written = _simulated(path, tmp_path / "out", label)
    rescored = _rescored(capsys, tmp_path / "out" / "order.csv", path, "--label", label, *options)
    assert rescored["n_priors"] == written["n_priors"]
    for key, value in written["metrics"].items():
        assert rescored[key] == pytest.approx(value, abs=1e-12), key
    return written


def _error(*args) -> str:
    """The one-line message the scorer stops with."""
    with pytest.raises(SystemExit) as stopped:
        _score_order_module().main([str(a) for a in args])
    message = str(stopped.value.code)
    assert "\n" not in message and "Traceback" not in message
    return message


# --- labels written as words, and unlabelled records -----------------------------------------------------


@pytest.mark.parametrize("header", ["label_included", "Label Included", "LabelIncluded"])
@pytest.mark.parametrize("include, exclude", [("yes", "no"), ("include", "exclude"), ("Included", "Excluded"),
                                              ("relevant", "irrelevant"), ("TRUE", "FALSE"), ("y", "n")])
def test_labels_written_as_words_are_read_as_simulate_reads_them(tmp_path, capsys, header, include, exclude):
    rows = [{**{k: v for k, v in row.items() if k != "label_included"},
             header: include if row["label_included"] else exclude} for row in _rows()]
    written = _assert_agree(_write(tmp_path / "words.csv", rows), tmp_path, capsys)
    assert written["n_records"] == 40


def test_unlabelled_values_leave_the_record_out_as_simulate_does(tmp_path, capsys):
    rows = [{**row, "label_included": f"{row['label_included']}.0"} for row in _rows()]  # 1.0 and 0.0 are labels
    unlabelled = ["", "-1", "nan", "None", "NA", "n/a", "maybe", "undecided", "not seen", "ASReview_not_seen", "-1.0"]
    for i, value in zip(range(1, 40, 3), unlabelled):
        rows[i]["label_included"] = value
    written = _assert_agree(_write(tmp_path / "partly.csv", rows), tmp_path, capsys)
    assert written["n_records"] == 40 - len(unlabelled)


# --- a decision column instead of label_* ------------------------------------------------------------------


@pytest.mark.parametrize("column, include, exclude", [("included", "1", "0"),  # ASReview's export
                                                      ("asreview_label", "1", "0"),
                                                      ("Final Decision", "Include", "Exclude"),
                                                      ("decision", "include", "exclude"),
                                                      ("label", "relevant", "irrelevant")])
def test_a_decision_column_stands_in_for_label_included(tmp_path, capsys, column, include, exclude):
    rows = [{"record_id": row["record_id"], "title": row["title"], "abstract": row["abstract"],
             column: include if row["label_included"] else exclude, "notes": "x"} for row in _rows()]
    rows[7][column] = ""  # no decision: left out
    written = _assert_agree(_write(tmp_path / "decisions.csv", rows), tmp_path, capsys)
    assert written["n_records"] == 39


def test_ldnscreen_exports_decision_and_stage_give_both_labels(tmp_path, capsys):
    rows = []
    for i, row in enumerate(_rows(50)):
        # relevant records: included at full text (every third one only included at title-abstract so far);
        # others: excluded at title-abstract, or (every fourth) at full text
        if row["label_included"]:
            decision, stage = ("include", "title-abstract") if i % 3 == 0 else ("include", "full-text")
        else:
            decision, stage = ("exclude", "full-text") if i % 4 == 0 else ("exclude", "title-abstract")
        rows.append({"record_id": row["record_id"], "title": row["title"], "abstract": row["abstract"],
                     "decision": decision, "stage": stage})
    path = _write(tmp_path / "export.csv", rows)
    included = _assert_agree(path, tmp_path, capsys, "label_included")
    abstract = _assert_agree(path, tmp_path, capsys, "label_abstract_screening")
    assert included["n_records"] < abstract["n_records"] == 50


# --- file formats -------------------------------------------------------------------------------------------


def test_a_tab_separated_txt_is_read_as_simulate_reads_it(tmp_path, capsys):
    # simulate sends a .txt to ldnscreen's readers: tab-separated columns are a TSV, whose ``id`` column
    # names the records when there is no record_id
    rows = [{"id": row["record_id"], **{k: v for k, v in row.items() if k != "record_id"}} for row in _rows()]
    written = _assert_agree(_write(tmp_path / "table.txt", rows, delimiter="\t"), tmp_path, capsys)
    with open(tmp_path / "out" / "order.csv") as f:
        assert next(csv.DictReader(f))["record_id"].startswith("R")
    assert written["n_records"] == 40


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_with_a_byte_order_mark_is_decoded(tmp_path, capsys, encoding):
    rows = _rows()
    rows[3]["title"] = "naltrexona en dosis bajas: caf\u00e9"
    path = tmp_path / "utf16.csv"
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    _write(tmp_path / "plain.csv", rows)
    path.write_bytes(bom + (tmp_path / "plain.csv").read_text(encoding="utf-8").encode(encoding))
    assert path.read_bytes()[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    _assert_agree(path, tmp_path, capsys)


def _bibliographic_records() -> list[Record]:
    return [Record(title=row["title"], abstract=row["abstract"], labels={"label_included": row["label_included"]})
            for row in _rows()]


@pytest.mark.parametrize("name, format, what", [("export.ris", None, "RIS"), ("pubmed.nbib", None, "MEDLINE"),
                                                ("pubmed.xml", None, "PubMed XML"),
                                                ("savedrecs.txt", "wos-tab", "Web of Science"),
                                                ("savedrecs_plain.txt", "wos-plain", "Web of Science")])
def test_a_bibliographic_export_stops_with_one_line_saying_to_convert_it(tmp_path, name, format, what):
    path = tmp_path / name
    write_file(_bibliographic_records(), path, format=format)
    order = tmp_path / "order.csv"
    order.write_text("position,record_id,label,is_prior\n1,0,1,1\n")
    message = _error(order, path)
    assert f"{name}: a {what} export" in message and f"ldnscreen convert {path} labels.csv" in message


def test_the_conversion_the_message_advises_does_score_a_ris_simulation(tmp_path, capsys):
    ris = tmp_path / "export.ris"
    write_file(_bibliographic_records(), ris)  # labels as ASReview_relevant/irrelevant notes
    numbers = iter(range(1000))
    ris.write_text(re.sub(r"^ID  - .*$", lambda m: f"ID  - P{next(numbers)}", ris.read_text(), flags=re.M))  # own ids
    written = _simulated(ris, tmp_path / "out")
    converted = tmp_path / "labels.csv"
    convert_file(ris, converted)  # record_id: ldnscreen's ids; source_ids: the RIS's own, as order.csv has them
    rescored = _rescored(capsys, tmp_path / "out" / "order.csv", converted, "--id-column", "source_ids")
    for key, value in written["metrics"].items():
        assert rescored[key] == pytest.approx(value, abs=1e-12), key
    assert "is not a labelled record of" in _error(tmp_path / "out" / "order.csv", converted)


# --- ids ---------------------------------------------------------------------------------------------------


def test_a_blank_id_is_its_row_number_and_a_collision_gives_every_record_its_row_number(tmp_path, capsys):
    rows = _rows()
    rows[12]["record_id"] = ""  # row number 12 ...
    rows[30]["record_id"] = "12"  # ... which another record has as its id: no id identifies a record
    path = _write(tmp_path / "collide.csv", rows)
    written = _assert_agree(path, tmp_path, capsys)
    assert written["settings"]["record_ids"].startswith("row numbers")
    rows[30]["record_id"] = "R130"  # no collision: the blank id alone is its row number
    path = _write(tmp_path / "blank.csv", rows)
    written = _assert_agree(path, tmp_path, capsys)
    assert "record_ids" not in written["settings"]


def test_an_unlabelled_record_sharing_an_id_does_not_turn_ids_into_row_numbers(tmp_path, capsys):
    rows = _rows()
    rows[9]["record_id"], rows[9]["label_included"] = "R103", ""  # left out by simulate: its id does not count
    written = _assert_agree(_write(tmp_path / "shared.csv", rows), tmp_path, capsys)
    assert "record_ids" not in written["settings"]
    with open(tmp_path / "out" / "order.csv") as f:
        assert all(row["record_id"].startswith("R") for row in csv.DictReader(f))


# --- errors: one line naming the file -------------------------------------------------------------------------


def test_an_order_that_does_not_match_the_input_names_the_record_and_both_files(tmp_path):
    data = _write(tmp_path / "data.csv", _rows())
    _simulated(data, tmp_path / "out")
    order = tmp_path / "out" / "order.csv"
    lines = order.read_text().splitlines()
    position, record_id, label, is_prior = lines[3].split(",")
    lines[3] = ",".join([position, "R999", label, is_prior])
    (tmp_path / "stranger.csv").write_text("\n".join(lines) + "\n")
    message = _error(tmp_path / "stranger.csv", data)
    assert "stranger.csv, line 4: record 'R999' is not a labelled record of" in message and "data.csv" in message
    lines[3] = ",".join([position, record_id, str(1 - int(label)), is_prior])
    (tmp_path / "flipped.csv").write_text("\n".join(lines) + "\n")
    message = _error(tmp_path / "flipped.csv", data)
    assert f"flipped.csv, line 4: record {record_id!r}: " in message
    assert f"says label '{1 - int(label)}'" in message and f"data.csv says {label}" in message


def test_unreadable_or_unlabelled_inputs_are_one_line_errors(tmp_path):
    data = _write(tmp_path / "data.csv", _rows())
    _simulated(data, tmp_path / "out")
    order = tmp_path / "out" / "order.csv"
    assert "missing.csv: cannot read the file" in _error(order, tmp_path / "missing.csv")
    assert "nowhere.csv: cannot read the screening order" in _error(tmp_path / "nowhere.csv", data)
    (tmp_path / "empty.csv").write_text("\n\n")
    assert "empty.csv: no header row" in _error(order, tmp_path / "empty.csv")
    no_label = _write(tmp_path / "no_label.csv", [{"record_id": "1", "title": "t", "notes": "x"}])
    message = _error(order, no_label)
    assert "no_label.csv: no label column" in message and "columns: record_id, title, notes" in message
    assert "data.csv: no column for the label 'label_other'" in _error(order, data, "--label", "label_other")
    rows = _rows()
    rows[6]["label_included"] = "perhaps"
    message = _error(order, _write(tmp_path / "bad.csv", rows))
    assert "bad.csv: row 8, column label_included: 'perhaps' is not a label" in message
    (tmp_path / "latin.csv").write_bytes("record_id,title,label_included\n1,caf\u00e9,1\n".encode("latin-1"))
    assert "latin.csv, line 2: byte 0xe9 is not valid utf-8" in _error(order, tmp_path / "latin.csv")
    assert "data.csv: not an order.csv" in _error(data, data)


def test_a_simulation_given_its_labels_in_a_separate_file_is_scored_from_that_file(tmp_path, capsys):
    from ldnscreen.simulate import simulate_file

    rows = [dict(row, pmid=str(5000 + i)) for i, row in enumerate(_rows())]
    medline = tmp_path / "search.nbib"
    convert_file(_write(tmp_path / "labelled.csv", rows), medline)  # MEDLINE: no place for labels; ids are PMIDs
    decisions = _write(tmp_path / "decisions.csv",
                       [{"PMID": r["pmid"], "Included": "yes" if r["label_included"] else "no"} for r in rows])
    result = simulate_file(medline, tmp_path / "out", labels_file=decisions, seed=1, progress=False)
    rescored = _rescored(capsys, tmp_path / "out" / "order.csv", decisions, "--id-column", "pmid")
    for key, value in result.metrics.items():
        assert rescored[key] == pytest.approx(value, abs=1e-12), key
