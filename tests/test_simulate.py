"""Simulation mode: determinism, priors, outputs, the independent scorer and the CLI."""

from __future__ import annotations

import csv
import importlib.util
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ldnscreen.cli import app
from ldnscreen.io import ReadError
from ldnscreen.records import Provenance, Record
from ldnscreen.simulate import load_labelled_records, simulate, simulate_file, write_outputs

ROOT = Path(__file__).resolve().parents[1]


def _score_order_module():
    spec = importlib.util.spec_from_file_location("score_order", ROOT / "benchmarks" / "score_order.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RELEVANT = "low dose naltrexone chronic pain fibromyalgia trial crps patients placebo".split()
OTHER = "rat liver enzyme kinetics mouse cell culture protein binding assay soil bacteria".split()
COMMON = "study results methods effect analysis data group".split()


def _rows(n_relevant=8, n_other=52, seed=7):
    rng = random.Random(seed)
    rows = []
    for i in range(n_relevant + n_other):
        relevant = i % ((n_relevant + n_other) // n_relevant) == 0 and sum(r["label_included"] for r in rows) < n_relevant
        vocab = RELEVANT if relevant else OTHER
        words = rng.sample(vocab, 5) + rng.sample(COMMON, 3) + rng.sample(RELEVANT + OTHER, 1)
        rows.append({"record_id": f"R{100 + i}", "title": " ".join(words[:4]), "abstract": " ".join(words[4:]),
                     "label_included": int(relevant)})
    return rows


@pytest.fixture
def dataset(tmp_path) -> Path:
    path = tmp_path / "small.csv"
    rows = _rows()
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def records(dataset) -> list[Record]:
    return load_labelled_records(dataset)


def test_reader_keeps_ids_and_labels(records):
    assert len(records) == 60
    assert sum(r.labels["label_included"] for r in records) == 8
    assert records[3].provenance[0].source_id == "R103"


def test_same_seed_same_order_other_seed_other_priors(records):
    a = simulate(records, seed=3, progress=False)
    b = simulate(records, seed=3, progress=False)
    c = simulate(records, seed=4, progress=False)
    assert a.record_ids == b.record_ids and a.metrics == b.metrics
    assert a.record_ids[:2] != c.record_ids[:2]


def test_priors_come_first_and_are_excluded_from_metrics(records):
    result = simulate(records, seed=0, prior_included=2, prior_excluded=3, progress=False)
    assert result.n_priors == 5
    assert result.labels[:5] == (1, 1, 0, 0, 0)
    assert result.metrics["n_records"] == 60 - 5
    assert result.metrics["n_relevant"] == 8 - 2
    assert len(set(result.record_ids)) == len(result.record_ids)
    # stopped at the last relevant record: the last screened record is relevant
    assert result.labels[-1] == 1 and sum(result.screened_labels) == 6


def test_stop_options(records):
    assert len(simulate(records, seed=0, stop="all", progress=False).record_ids) == 60
    assert len(simulate(records, seed=0, stop=5, progress=False).screened_labels) == 5


def test_metrics_match_the_independent_scorer(dataset, tmp_path):
    out = tmp_path / "out"
    result = simulate_file(dataset, out, seed=2, prior_included=1, prior_excluded=2, progress=False)
    written = json.loads((out / "metrics.json").read_text())
    scorer = _score_order_module()
    rescored = scorer.score(scorer.read_order(out / "order.csv"), scorer.read_input_labels(dataset, "label_included"))
    assert rescored["n_priors"] == 3 == written["n_priors"]
    for key, value in written["metrics"].items():
        assert rescored[key] == pytest.approx(value, abs=1e-12), key
    assert (out / "recall.png").stat().st_size > 1000
    with open(out / "order.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["is_prior"] for r in rows[:4]] == ["1", "1", "1", "0"]
    assert rows[0]["record_id"] == result.record_ids[0] and rows[0]["record_id"].startswith("R")


def test_scorer_detects_a_wrong_label(dataset, tmp_path):
    simulate_file(dataset, tmp_path, seed=1, progress=False)
    scorer = _score_order_module()
    rows = scorer.read_order(tmp_path / "order.csv")
    rows[3]["label"] = str(1 - int(rows[3]["label"]))
    with pytest.raises(ValueError):
        scorer.score(rows, scorer.read_input_labels(dataset, "label_included"))


def test_partial_simulation_is_scored_the_same_by_both(dataset, tmp_path):
    result = simulate_file(dataset, tmp_path, seed=5, stop=10, progress=False)
    scorer = _score_order_module()
    rescored = scorer.score(scorer.read_order(tmp_path / "order.csv"),
                            scorer.read_input_labels(dataset, "label_included"))
    assert rescored["wss_100"] == pytest.approx(result.metrics["wss_100"])
    assert rescored["loss"] == pytest.approx(result.metrics["loss"])


def test_row_numbers_stand_in_for_a_missing_record_id(tmp_path):
    recs = [Record(title=f"naltrexone pain {i}", labels={"label_included": 1}, provenance=(Provenance("csv"),))
            for i in range(3)]
    recs += [Record(title=f"liver enzyme {i}", labels={"label_included": 0}) for i in range(9)]
    result = simulate(recs, seed=0, progress=False)
    assert set(result.record_ids) <= {str(i) for i in range(12)}
    write_outputs(result, tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["prior_record_ids"] == list(result.record_ids[:2])


def test_stopping_rules_are_replayed(records):
    result = simulate(records, seed=0, stopping="consecutive:10", progress=False)
    (name,) = result.stopping
    assert "consecutive" in name
    assert 0 <= result.stopping[name]["recall"] <= 1


def test_cli_simulate(dataset, tmp_path):
    out = tmp_path / "cli"
    res = CliRunner().invoke(app, ["simulate", str(dataset), "--seed", "1", "--stop", "all", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "WSS@95" in res.output
    written = json.loads((out / "metrics.json").read_text())
    assert written["n_screened"] == 58 and written["seed"] == 1
    bad = CliRunner().invoke(app, ["simulate", str(dataset), "--stop", "soon", "--out", str(out)])
    assert bad.exit_code != 0


LDN_CRITERIA = ROOT / "corpora" / "ldn_review" / "criteria.toml"


def test_criteria_rank_the_records_before_any_label(records):
    from ldnscreen.criteria import Criteria

    criteria = Criteria.load(LDN_CRITERIA)
    started = simulate(records, seed=3, prior_included=0, prior_excluded=0, progress=False, criteria=criteria)
    assert started.n_priors == 0 and started.settings["criteria"] == criteria.name
    assert started.settings["learner"]["prior"] == f"Criteria({criteria.name!r})"
    # the criteria (naltrexone, pain, CRPS...) put the relevant records first: the first 7 screened
    # are 7 of the 8 relevant ones, where a start without them (the same seed) finds none in 10
    assert started.labels[:7] == (1,) * 7
    blind = simulate(records, seed=3, prior_included=0, prior_excluded=0, progress=False)
    assert sum(blind.labels[:10]) == 0 and "criteria" not in blind.settings
    # the seed only breaks ties once the criteria order the records
    again = simulate(records, seed=4, prior_included=0, prior_excluded=0, progress=False, criteria=criteria)
    assert again.record_ids == started.record_ids


def test_cli_simulate_with_criteria(dataset, tmp_path):
    out = tmp_path / "crit"
    res = CliRunner().invoke(app, ["simulate", str(dataset), "--criteria", str(LDN_CRITERIA), "--prior-included", "0",
                                   "--prior-excluded", "0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    written = json.loads((out / "metrics.json").read_text())
    assert written["settings"]["criteria"].startswith("Low-dose naltrexone") and written["n_priors"] == 0
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\n[[exclusion]]\npatterns = ["rat"]\n')
    for path, problem in ((broken, "has no 'reason'"), (tmp_path / "missing.toml", "cannot read the criteria file")):
        bad = CliRunner().invoke(app, ["simulate", str(dataset), "--criteria", str(path), "--out", str(tmp_path / "no")])
        assert bad.exit_code == 1 and str(path.name) in bad.output and problem in bad.output, bad.output
        assert not (tmp_path / "no").exists()  # nothing simulated or written


def test_cli_simulate_on_a_shared_dataset(shared_screening, tmp_path):
    data = shared_screening / "cohen2006_antihistamines.csv"
    res = CliRunner().invoke(app, ["simulate", str(data), "--label", "label_abstract_screening",
                                   "--stop", "40", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["n_records"] == 310 and written["n_screened"] == 40
    assert written["metrics"]["n_relevant"] == 92 - 1


def test_simulations_limit_thread_pools_through_one_cached_controller(records, monkeypatch):
    import threadpoolctl

    made = []
    init = threadpoolctl.ThreadpoolController.__init__

    def counted(self, *args, **kwargs):
        made.append(1)
        init(self, *args, **kwargs)

    monkeypatch.setattr(threadpoolctl.ThreadpoolController, "__init__", counted)
    first = simulate(records, seed=2, progress=False)
    again = simulate(records, seed=2, progress=False)
    assert first.record_ids == again.record_ids
    assert len(made) <= 1  # looking the libraries up again cost ~5 ms of every simulation


def test_thread_pools_are_not_looked_up_when_started_with_one_thread(records, monkeypatch):
    from ldnscreen import rankers

    monkeypatch.setattr(rankers, "_THREADPOOLS", None)
    monkeypatch.setattr(rankers, "_ONE_THREAD_FROM_START", True)
    simulate(records, seed=2, stop=5, progress=False)
    assert rankers._THREADPOOLS is None  # no scan of the loaded libraries (~10 ms a process)
    monkeypatch.setattr(rankers, "_ONE_THREAD_FROM_START", False)
    simulate(records, seed=2, stop=5, progress=False)
    assert rankers._THREADPOOLS is not None


@pytest.mark.parametrize("threads, expected", [("1", "True"), ("2", "False"), (None, "False")])
def test_one_thread_start_is_read_from_the_environment_at_import(threads, expected):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    if threads is not None:
        env["OPENBLAS_NUM_THREADS"] = threads
    out = subprocess.run([sys.executable, "-c", "import ldnscreen.rankers as r; print(r._ONE_THREAD_FROM_START)"],
                         capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == expected


def test_cli_simulate_several_seeds_writes_each_and_a_summary(dataset, tmp_path):
    import statistics

    out = tmp_path / "seeds"
    res = CliRunner().invoke(app, ["simulate", str(dataset), "--seeds", "0-2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "3 seeds" in res.output and "wss_95" in res.output
    per_seed = [json.loads((out / f"seed-{s}" / "metrics.json").read_text()) for s in range(3)]
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["seed"]) for r in rows] == [0, 1, 2]
    for row, metrics in zip(rows, per_seed):
        assert float(row["wss_95"]) == pytest.approx(metrics["metrics"]["wss_95"])
        assert int(row["n_screened"]) == metrics["n_screened"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0, 1, 2] and summary["n_relevant"] == per_seed[0]["n_relevant"]
    values = [m["metrics"]["atd"] for m in per_seed]
    assert summary["atd"]["mean"] == pytest.approx(statistics.fmean(values))
    assert summary["atd"]["sd"] == pytest.approx(statistics.stdev(values))
    assert (out / "recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # each seed is the same run as on its own
    single = tmp_path / "one"
    assert CliRunner().invoke(app, ["simulate", str(dataset), "--seed", "1", "--out", str(single)]).exit_code == 0
    assert (single / "order.csv").read_text() == (out / "seed-1" / "order.csv").read_text()
    bad = CliRunner().invoke(app, ["simulate", str(dataset), "--seeds", "2-0", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 1 and "'2-0' is not a seed or a range of seeds" in bad.output
    assert not (tmp_path / "bad").exists()


def test_parse_seeds_keeps_the_order_given_without_repeats():
    from ldnscreen.simulate import parse_seeds

    assert parse_seeds("3,0-2,1") == [3, 0, 1, 2]
    for text in ("", "a", "1-", "-1", "0-2-4"):
        with pytest.raises(ValueError, match="is not a seed or a range of seeds"):
            parse_seeds(text)


def _write_table(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_html_entities_are_read_as_import_reads_them(tmp_path):
    from ldnscreen.io import read_file

    rows = _rows()
    rows[0].update(title="Crohn&#39;s disease &amp; TNF-&alpha;", abstract="&lt;p&gt;Pain fell&lt;/p&gt;", keywords="IL-1&beta;; LDN")
    data = _write_table(tmp_path / "entities.csv", rows)
    [simulated] = [r for r in load_labelled_records(data) if r.provenance[0].source_id == "R100"]
    imported = read_file(data).records[0]
    assert simulated.title == imported.title == "Crohn's disease & TNF-\u03b1"
    assert simulated.abstract == imported.abstract == "<p>Pain fell</p>"
    assert simulated.keywords == imported.keywords == ("IL-1\u03b2", "LDN")


def test_decisions_exported_by_ldnscreen_or_asreview_are_labels(tmp_path):
    rows = [dict(row, **{"decision": "", "stage": ""}) for row in _rows()]
    for row in rows:
        del row["label_included"]
    rows[0].update(decision="include", stage="full-text")
    rows[1].update(decision="exclude", stage="full-text")
    rows[2].update(decision="exclude", stage="title-abstract")
    rows[3].update(decision="include", stage="title-abstract")  # not yet decided at full text
    records = load_labelled_records(_write_table(tmp_path / "ldnscreen-export.csv", rows))
    assert [r.labels for r in records[:5]] == [
        {"label_abstract_screening": 1, "label_included": 1},
        {"label_abstract_screening": 1, "label_included": 0},
        {"label_abstract_screening": 0, "label_included": 0},
        {"label_abstract_screening": 1},
        {},
    ]
    # ASReview's export: an "included" column, empty where not screened
    asreview = [{"record_id": r["record_id"], "title": r["title"], "abstract": r["abstract"],
                 "included": "" if i % 10 == 9 else str(r["label_included"])} for i, r in enumerate(_rows())]
    records = load_labelled_records(_write_table(tmp_path / "asreview.csv", asreview))
    assert sum("label_included" in r.labels for r in records) == 54
    result = simulate(records, seed=0, progress=False)
    assert result.n_records == 54 and result.n_relevant == sum(int(r["included"] or 0) for r in asreview)
    # a decision column named as a reviewer's spreadsheet names it: what `ldnscreen import` reads as labels
    from ldnscreen.io import read_file

    spreadsheet = [{"Title": r["title"], "Abstract": r["abstract"], "Final Decision": r["included"]} for r in asreview]
    path = _write_table(tmp_path / "final-decision.csv", spreadsheet)
    simulated, imported = load_labelled_records(path), read_file(path).records
    assert [r.labels for r in simulated] == [r.labels for r in imported] == [r.labels for r in records]
    # other spellings of the same columns: both commands find them by one rule
    for name, labels_column in (("dotted", "Final.Decision"), ("spaced", "Label Included"), ("joined", "LabelIncluded")):
        spreadsheet = [{"TI": r["title"], "AB": r["abstract"], labels_column: r["included"]} for r in asreview]
        path = _write_table(tmp_path / f"{name}.csv", spreadsheet)
        simulated, imported = load_labelled_records(path), read_file(path).records
        assert [r.labels for r in simulated] == [r.labels for r in imported] == [r.labels for r in records], name
    # a stage that is not one: no label for that row in an import, which goes on; a simulation stops at it
    staged = [{"title": r["title"], "Decision": "include", "Stage": "full-text"} for r in asreview[:3]]
    staged[1]["Stage"] = "second look"
    path = _write_table(tmp_path / "staged.csv", staged)
    assert [r.labels for r in read_file(path).records] == [{"label_abstract_screening": 1, "label_included": 1}, {},
                                                           {"label_abstract_screening": 1, "label_included": 1}]
    with pytest.raises(ValueError, match=r"staged\.csv: row 3, column Stage: stage 'second look' is not title-abstract or full-text"):
        load_labelled_records(path)


def test_a_label_that_is_not_one_names_the_file_and_row(tmp_path):
    rows = _rows()
    rows[1]["label_included"] = "perhaps"
    with pytest.raises(ValueError, match=r"bad\.csv: row 3, column label_included: 'perhaps' is not a decision"):
        load_labelled_records(_write_table(tmp_path / "bad.csv", rows))
    rows[1]["label_included"] = "yes"  # words that are decisions are read as 0/1
    assert load_labelled_records(_write_table(tmp_path / "words.csv", rows))[1].labels == {"label_included": 1}
    unlabelled = [{"title": "a", "abstract": "b", "screened": "1"}]
    with pytest.raises(ValueError, match="no record carries the label 'label_included' \\(labels found: none"):
        simulate(load_labelled_records(_write_table(tmp_path / "none.csv", unlabelled)), progress=False)


def test_a_spreadsheet_export_with_decisions_is_simulated_like_its_csv(tmp_path):
    import openpyxl

    rows = _rows()
    header = ["record_id", "title", "abstract", "decision", "stage"]

    def table(decisions):
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(header)
        for row, decision in zip(rows, decisions):
            sheet.append([row["record_id"], row["title"], row["abstract"], decision, "full-text" if decision else ""])
        return book

    decisions = ["include" if r["label_included"] else "exclude" for r in rows]
    table(decisions).save(tmp_path / "export.xlsx")
    _write_table(tmp_path / "export.csv", [dict(zip(header, [r["record_id"], r["title"], r["abstract"], d, "full-text"]))
                                           for r, d in zip(rows, decisions)])
    from_xlsx = simulate(load_labelled_records(tmp_path / "export.xlsx"), seed=2, progress=False)
    from_csv = simulate(load_labelled_records(tmp_path / "export.csv"), seed=2, progress=False)
    assert from_xlsx.labels == from_csv.labels and from_xlsx.metrics == from_csv.metrics
    assert from_xlsx.n_relevant == sum(r["label_included"] for r in rows)
    # a bibliographic spreadsheet reader does not stop at an unknown decision (Rayyan's "conflict"):
    # that record has no label, and a simulation leaves it out
    decisions[4] = "conflict"
    table(decisions).save(tmp_path / "conflict.xlsx")
    records = load_labelled_records(tmp_path / "conflict.xlsx")
    assert records[4].labels == {} and all(r.labels for i, r in enumerate(records) if i != 4)


def test_records_without_the_label_are_left_out_and_rows_keep_their_numbers(tmp_path):
    rows = [{k: v for k, v in row.items() if k != "record_id"} for row in _rows()]
    for i in (0, 7, 8, 30):  # not screened: no label
        rows[i]["label_included"] = ""
    data = _write_table(tmp_path / "partly.csv", rows)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["simulate", str(data), "--seed", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "4 records of partly.csv have no label_included and were left out" in res.output
    written = json.loads((out / "metrics.json").read_text())
    assert written["settings"]["records_without_label"] == 4 and written["n_records"] == 56
    from ldnscreen._compiled import kernels

    assert written["settings"]["compiled"] is (kernels is not None)
    with open(out / "order.csv") as f:
        screened = {int(r["record_id"]) for r in csv.DictReader(f)}
    assert not screened & {0, 7, 8, 30}  # record ids are the input's row numbers, not the kept rows'
    scorer = _score_order_module()
    rescored = scorer.score(scorer.read_order(out / "order.csv"), scorer.read_input_labels(data, "label_included"))
    for key, value in written["metrics"].items():
        assert rescored[key] == pytest.approx(value, abs=1e-12), key


def test_priors_that_cannot_be_drawn_say_which_records_were_left_out(tmp_path):
    # ASReview's -1 ("not labelled") on every exclusion: no irrelevant prior can be drawn, and the
    # error says where the exclusions went instead of only counting 0 irrelevant records
    rows = _rows()
    for row in rows:
        if str(row["label_included"]) == "0":
            row["label_included"] = -1
    data = _write_table(tmp_path / "unmarked.csv", rows)
    res = CliRunner().invoke(app, ["simulate", str(data), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1
    excluded = sum(str(row["label_included"]) == "-1" for row in rows)
    assert f"{excluded} records with no label_included value" in " ".join(res.output.split())
    assert not (tmp_path / "out").exists()


def test_a_review_whose_relevant_records_are_all_priors_says_so_and_names_the_file(tmp_path):
    rows = _rows()
    for row in rows:
        row["label_included"] = 0
    rows[3]["label_included"] = 1
    path = _write_table(tmp_path / "one.csv", rows)
    with pytest.raises(ValueError, match=r"one\.csv: no relevant record to find: 1 of the 60 records .* "
                                         r"1 relevant prior\(s\) take them all \(use --prior-included 0\)"):
        simulate_file(path, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    rows[3]["label_included"] = 0
    with pytest.raises(ValueError, match=r"none\.csv: no relevant record to find: 0 of the 60 records are labelled "
                                         r"relevant for 'label_included'$"):
        simulate_file(_write_table(tmp_path / "none.csv", rows), tmp_path / "out", prior_included=0, progress=False)
    result = simulate_file(path, tmp_path / "out", prior_included=0, progress=False)  # the one record is found
    assert result.metrics["n_relevant"] == 1 and sum(result.labels) == 1


def _simulated(path, tmp_path, **options):
    result = simulate_file(path, tmp_path / f"out-{Path(path).stem}", progress=False, **options)
    return list(result.record_ids), list(result.labels)


def test_a_file_is_simulated_the_same_whatever_its_columns_are_called(dataset, tmp_path):
    # exports name the columns Title/Abstract, TI/AB...: the same records, the same order (not empty texts)
    rows = list(csv.DictReader(open(dataset, newline="")))
    expected = _simulated(dataset, tmp_path)
    for name, renames in (("caps", {"title": "Title", "abstract": "Abstract", "label_included": "Label_Included"}),
                          ("tags", {"title": "TI", "abstract": "AB", "record_id": "Record ID"})):
        renamed = [{renames.get(k, k): v for k, v in row.items()} for row in rows]
        path = _write_table(tmp_path / f"{name}.csv", renamed)
        assert _simulated(path, tmp_path) == expected
        scorer = _score_order_module()  # the independent scorer reads such a file too, and agrees
        rescored = scorer.score(scorer.read_order(tmp_path / f"out-{name}" / "order.csv"),
                                scorer.read_input_labels(path, "label_included"))
        written = json.loads((tmp_path / f"out-{name}" / "metrics.json").read_text())["metrics"]
        assert rescored["wss_95"] == pytest.approx(written["wss_95"]) and rescored["atd"] == pytest.approx(written["atd"])
    semicolon = tmp_path / "semicolon.csv"
    with open(semicolon, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    assert _simulated(semicolon, tmp_path) == expected
    latin = tmp_path / "latin.csv"
    latin.write_bytes(dataset.read_text().replace("trial", "tri\u00e1l").encode("latin-1"))
    with pytest.raises(ReadError, match=r"latin\.csv, line \d+: byte 0xe1 is not valid UTF-8"):
        simulate_file(latin, tmp_path / "out", progress=False)
    assert sum(_simulated(latin, tmp_path, encoding="latin-1")[1]) == sum(expected[1])  # every relevant record found
    assert load_labelled_records(latin, encoding="latin-1")[0].title == rows[0]["title"].replace("trial", "tri\u00e1l")


def test_unreadable_inputs_are_one_line_errors_naming_the_file(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["simulate", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "missing.csv: cannot read the file" in result.output
    no_text = _write_table(tmp_path / "ids.csv", [{"record_id": "1", "doi": "10.1/x", "label_included": "1"}])
    with pytest.raises(ReadError, match=r"ids\.csv, line 1: no title or abstract column .* columns found: "
                                        r"record_id, doi, label_included"):
        load_labelled_records(no_text)
    header_only = tmp_path / "header.csv"
    header_only.write_text("title,abstract,label_included\n")
    with pytest.raises(ReadError, match=r"header\.csv, line 2: the file has column names and no record"):
        load_labelled_records(header_only)
    assert not (tmp_path / "out").exists()


def test_repeated_record_ids_give_way_to_row_numbers_and_the_scorer_agrees(tmp_path):
    rows = _rows()
    for row in rows:
        row["record_id"] = "R1" if row is rows[7] else row["record_id"]  # rows[0] is R100; R1 once is fine
    result = simulate_file(_write_table(tmp_path / "once.csv", rows), tmp_path / "once", progress=False)
    assert "record_ids" not in result.settings and "R1" in result.record_ids
    rows[9]["record_id"] = "R1"
    path = _write_table(tmp_path / "twice.csv", rows)
    out = tmp_path / "twice"
    result = simulate_file(path, out, progress=False)
    assert result.settings["record_ids"] == "row numbers: the file's record_id 'R1' is on more than one record"
    assert [rows[int(i)]["label_included"] for i in result.record_ids] == list(result.labels)  # row numbers from 0
    scorer = _score_order_module()
    rescored = scorer.score(scorer.read_order(out / "order.csv"), scorer.read_input_labels(path, "label_included"))
    assert rescored["wss_95"] == pytest.approx(result.metrics["wss_95"])
    with pytest.raises(ValueError, match="prior record R1 is not one of .* 'R1' is on more than one record, so the "
                                         "records are named by row number"):
        simulate_file(path, out, prior_ids=["R1"], progress=False)
    assert simulate_file(path, out, prior_ids=["7", "0"], progress=False).record_ids[:2] == ("7", "0")


def test_minus_one_is_no_label_and_other_numbers_are_errors_before_any_screening(tmp_path):
    rows = _rows()
    rows[2]["label_included"], rows[5]["label_included"] = "-1", "-1.0"  # ASReview's "not labelled"
    result = simulate_file(_write_table(tmp_path / "asr.csv", rows), tmp_path / "asr", progress=False)
    assert result.settings["records_without_label"] == 2 and result.n_records == len(rows) - 2
    assert result.metrics["n_relevant"] + sum(result.labels[: result.n_priors]) == sum(
        r["label_included"] == 1 for r in rows)
    for bad in ("2", "0.5"):
        rows[5]["label_included"] = bad
        with pytest.raises(ValueError, match=rf"bad\.csv: row 7, column label_included: '{bad}' is not a decision"):
            load_labelled_records(_write_table(tmp_path / "bad.csv", rows))


def test_a_spreadsheet_keeps_every_row_as_its_csv_does(tmp_path):
    import openpyxl

    rows = _rows()
    rows[3]["title"] = ""  # an abstract without a title is still a record to screen
    header = list(rows[0])
    book = openpyxl.Workbook()
    book.active.append([h.title() for h in header])  # Record_Id, Title, Abstract, Label_Included
    for row in rows:
        book.active.append([int(v) if k == "label_included" else v for k, v in row.items()])
    book.save(tmp_path / "table.xlsx")
    from_xlsx = load_labelled_records(tmp_path / "table.xlsx")
    from_csv = load_labelled_records(_write_table(tmp_path / "table.csv", rows))
    assert len(from_xlsx) == len(rows) and from_xlsx[3].title == "" and from_xlsx[3].abstract == rows[3]["abstract"]
    assert [(r.title, r.abstract, r.labels, r.provenance[0].source_id) for r in from_xlsx] == [
        (r.title, r.abstract, r.labels, r.provenance[0].source_id) for r in from_csv]
    result = simulate_file(tmp_path / "table.xlsx", tmp_path / "out", progress=False)
    scorer = _score_order_module()  # the independent scorer reads the spreadsheet too, and agrees
    rescored = scorer.score(scorer.read_order(tmp_path / "out" / "order.csv"),
                            scorer.read_input_labels(tmp_path / "table.xlsx", "label_included"))
    assert rescored["wss_95"] == pytest.approx(result.metrics["wss_95"]) and rescored["loss"] == pytest.approx(
        result.metrics["loss"])


def test_named_priors_replace_the_random_draw(dataset, tmp_path):
    relevant = next(r["record_id"] for r in _rows() if r["label_included"])
    out = tmp_path / "named"
    result = simulate_file(dataset, out, prior_ids=["R140", relevant, "R101"], progress=False)
    assert list(result.record_ids[:3]) == ["R140", relevant, "R101"] and result.n_priors == 3
    assert result.settings["prior_ids"] == ["R140", relevant, "R101"]
    assert (result.settings["prior_included"], result.settings["prior_excluded"]) == (1, 2)
    assert "R140" not in result.record_ids[3:] and result.metrics["n_relevant"] == 7  # 8 relevant, one a prior
    scorer = _score_order_module()
    rescored = scorer.score(scorer.read_order(out / "order.csv"), scorer.read_input_labels(dataset, "label_included"))
    assert rescored["n_priors"] == 3 and rescored["wss_95"] == pytest.approx(result.metrics["wss_95"])
    # the seed no longer draws the priors: another seed keeps them
    other = simulate_file(dataset, tmp_path / "other", seed=5, prior_ids=["R140", relevant, "R101"], progress=False)
    assert other.record_ids[:3] == result.record_ids[:3]
    with pytest.raises(ValueError, match=r"small\.csv: prior record R999 is not one of the 60 records"):
        simulate_file(dataset, tmp_path / "x", prior_ids=["R101", "R999"], progress=False)
    with pytest.raises(ValueError, match="prior record R101 is named twice"):
        simulate_file(dataset, tmp_path / "x", prior_ids=["R101", "R101"], progress=False)
    runner = CliRunner()
    cli = runner.invoke(app, ["simulate", str(dataset), "--priors", f"R140, {relevant}", "--out", str(tmp_path / "cli")])
    assert cli.exit_code == 0, cli.output
    assert [row["record_id"] for row in csv.DictReader(open(tmp_path / "cli" / "order.csv"))][:2] == ["R140", relevant]


def test_old_mac_line_ends_and_other_label_columns_do_not_stop_a_simulation(dataset, tmp_path):
    expected = _simulated(dataset, tmp_path)
    mac = tmp_path / "mac.csv"  # Excel's "CSV (Macintosh)": lines end in \r alone
    mac.write_bytes(dataset.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r"))
    assert _simulated(mac, tmp_path) == expected
    # a reviewer's free-text label_notes column: simulating label_included reads it where it holds labels
    rows = [dict(row, label_notes="checked by AB" if i == 0 else "") for i, row in enumerate(_rows())]
    notes = _write_table(tmp_path / "notes.csv", rows)
    assert _simulated(notes, tmp_path) == expected
    with pytest.raises(ValueError, match=r"notes\.csv: row 2, column label_notes: 'checked by AB' is not a decision"):
        load_labelled_records(notes)  # no label named: every label_* column must hold labels
    import openpyxl  # a typo in a spreadsheet's label column stops the simulation as in a CSV (was: record left out)

    book = openpyxl.Workbook()
    rows = _rows()
    rows[5]["label_included"] = 2
    book.active.append(list(rows[0]))
    for row in rows:
        book.active.append(list(row.values()))
    book.save(tmp_path / "typo.xlsx")
    with pytest.raises(ValueError, match=r"typo\.xlsx: row 7, column label_included: '2' is not a decision"):
        simulate_file(tmp_path / "typo.xlsx", tmp_path / "out-typo", progress=False)


def test_a_stopped_simulation_says_which_metrics_are_bounds(dataset, tmp_path):
    runner = CliRunner()
    out = tmp_path / "early"
    result = runner.invoke(app, ["simulate", str(dataset), "--seed", "1", "--stop", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "metrics.json").read_text())
    assert payload["n_screened"] == 5 and "wss_95" in payload["undecided_metrics"] and "atd" in payload["undecided_metrics"]
    assert "count the unscreened relevant records as coming last" in " ".join(result.output.split())
    full = tmp_path / "full"
    result = runner.invoke(app, ["simulate", str(dataset), "--seed", "1", "--out", str(full)])
    assert json.loads((full / "metrics.json").read_text())["undecided_metrics"] == []
    assert "coming last" not in result.output
    result = runner.invoke(app, ["simulate", str(dataset), "--seeds", "0-1", "--stop", "5", "--out", str(tmp_path / "s")])
    assert json.loads((tmp_path / "s" / "summary.json").read_text())["undecided_metrics"][:1] == ["wss_95"]
    # a stopping rule firing past the records screened rests on made-up labels: it says so
    records = load_labelled_records(dataset)
    early = simulate(records, seed=1, stop=5, stopping="share:0.05,consecutive:40", progress=False)
    assert sum(early.screened_labels) < early.n_relevant - 1
    assert early.stopping["share:0.05"]["stopped_at"] == 3 and early.stopping["share:0.05"]["decided"] is True
    assert early.stopping["consecutive:40"]["decided"] is False
    assert all("decided" not in outcome for outcome in simulate(records, seed=1, stopping="consecutive:40",
                                                                 progress=False).stopping.values())


def test_settings_that_cannot_work_stop_before_any_work(dataset, tmp_path):
    runner = CliRunner()
    a_file = tmp_path / "taken"
    a_file.write_text("")
    result = runner.invoke(app, ["simulate", str(dataset), "--out", str(a_file)])
    assert result.exit_code == 1 and "--out" in result.output and "a file of that name exists" in result.output
    result = runner.invoke(app, ["simulate", str(dataset), "--prior-included", "-1", "--out", str(tmp_path / "neg")])
    assert result.exit_code == 1 and "the numbers of priors cannot be negative" in result.output
    rows = _rows(n_relevant=8, n_other=1)
    result = runner.invoke(app, ["simulate", str(_write_table(tmp_path / "one-irrelevant.csv", rows)),
                                 "--out", str(tmp_path / "one")])
    assert result.exit_code == 1 and "no irrelevant record left to screen" in result.output
    assert "use --prior-excluded 0" in result.output
    assert not any((tmp_path / name).exists() for name in ("neg", "one"))
    result = runner.invoke(app, ["simulate", str(tmp_path / "one-irrelevant.csv"), "--prior-excluded", "0",
                                 "--out", str(tmp_path / "one")])
    assert result.exit_code == 0, result.output


def test_labels_from_a_separate_file_for_an_export_that_carries_none(tmp_path):
    from ldnscreen.io import convert_file

    rows = [dict(row, pmid=str(1000 + i)) for i, row in enumerate(_rows())]
    labelled = _write_table(tmp_path / "labelled.csv", rows)
    medline = tmp_path / "search.nbib"
    convert_file(labelled, medline)  # MEDLINE has no place for a label
    with pytest.raises(ValueError, match="no record carries the label 'label_included'.*--labels FILE"):
        simulate_file(medline, tmp_path / "none", progress=False)
    # the decisions as a reviewer keeps them: PMID and a yes/no column, one row matching nothing
    decisions = [{"PMID": row["pmid"], "Included": "yes" if row["label_included"] else "no"} for row in rows]
    decisions.append({"PMID": "999999", "Included": "yes"})
    labels = _write_table(tmp_path / "decisions.csv", decisions)
    result = simulate_file(medline, tmp_path / "out", labels_file=labels, progress=False)
    expected = simulate_file(labelled, tmp_path / "expected", progress=False)
    assert result.n_relevant == expected.n_relevant and result.n_records == expected.n_records
    assert list(result.labels) == list(expected.labels)  # the same texts and labels: the same screening
    assert result.settings["labels_file"] == "60 of 61 rows of decisions.csv labelled a record; 1 matched no record (rows 62)"
    # two rows disagreeing on one record: neither applied, the record left out as unlabelled
    decisions[1]["Included"] = "yes" if decisions[1]["Included"] == "no" else "no"
    decisions.append(dict(decisions[1], Included="no" if decisions[1]["Included"] == "yes" else "yes"))
    runner = CliRunner()
    out = runner.invoke(app, ["simulate", str(medline), "--labels", str(_write_table(tmp_path / "d2.csv", decisions)),
                              "--out", str(tmp_path / "cli")])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "2 disagreed with another row on the same record (rows 3, 63)" in text
    assert "1 record of search.nbib has no label_included and was left out" in text
    nothing = _write_table(tmp_path / "other.csv", [{"PMID": "99", "Included": "yes"}])  # another search's
    with pytest.raises(ValueError, match=r"no record carries the label .*\[--labels: 0 of 1 rows of other\.csv "
                                         r"labelled a record; 1 matched no record \(rows 2\)\]"):
        simulate_file(medline, tmp_path / "other", labels_file=nothing, progress=False)
    bad = _write_table(tmp_path / "bad.csv", [{"PMID": "1000", "Included": "perhaps"}])
    out = runner.invoke(app, ["simulate", str(medline), "--labels", str(bad), "--out", str(tmp_path / "bad")])
    assert out.exit_code == 1 and "bad.csv: row 2, column included: 'perhaps' is not a decision" in out.output
    bad = _write_table(tmp_path / "bad2.csv", [{"PMID": "1000", "Label Included": "1"},
                                              {"PMID": "1001", "Label Included": "perhaps"}])
    with pytest.raises(ValueError, match="bad2.csv: row 3, column label_included: 'perhaps' is not a decision"):
        simulate_file(medline, tmp_path / "bad2", labels_file=bad, progress=False)


@pytest.mark.parametrize("name, format", [("x.ris", "ris"), ("x.nbib", "medline"), ("x.xml", "pubmed-xml"),
                                          ("x.txt", "wos-tab"), ("y.txt", "wos-plain")])
def test_a_record_without_a_title_is_simulated_from_any_export_as_from_a_csv(tmp_path, name, format):
    from ldnscreen.io import read_file, write_file

    rows = _rows()
    records = [Record(title=row["title"] or "untitled", abstract=row["abstract"], pmid=str(100 + i),
                      labels={"label_included": row["label_included"]}) for i, row in enumerate(rows)]
    untitled = records[3].title
    path = tmp_path / name
    write_file(records, path, format=format)
    text = path.read_text()
    for pattern in (f"TI  - {untitled}\n", f"<ArticleTitle>{untitled}</ArticleTitle>", f"\t{untitled}\t",
                    f"TI {untitled}\n"):
        text = text.replace(pattern, {"<": "<ArticleTitle></ArticleTitle>", "\t": "\t\t"}.get(pattern[0], ""))
    path.write_text(text)
    with pytest.raises(ReadError, match="record 4.*has no title"):  # an import needs titles
        read_file(path)
    loaded = load_labelled_records(path)  # a simulation replays every record, as from a CSV
    assert len(loaded) == len(rows) and loaded[3].title == "" and loaded[3].abstract == rows[3]["abstract"]
    if format == "ris":  # (the one of these formats that carries labels)
        assert simulate(loaded, seed=0, progress=False).n_records == len(rows)
