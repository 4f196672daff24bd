"""The screening benchmark's own outputs: orders that re-score to its table, pictures, resumed runs.

``benchmarks/screening.py`` is run on a small composed review (ldnscreen only: ASReview needs its
own virtual environment and minutes per run). Its ``orders.jsonl`` is re-scored by the independent
scorer of ``benchmarks/score_order.py`` from the input file's labels.
"""

import csv
import importlib.util
import json
from pathlib import Path

import pytest

from .test_simulate import _rows

ROOT = Path(__file__).resolve().parents[1]


def _module(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def screening():
    return _module("screening")


@pytest.fixture
def data_dir(tmp_path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    rows = _rows()
    with open(folder / "small.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


def _run(screening, data_dir, out):
    screening.main(["--data-dir", str(data_dir), "--seeds", "0-1", "--labels", "label_included", "--out", str(out)])


def test_orders_rescore_to_the_table_and_pictures_are_drawn(screening, data_dir, tmp_path):
    out = tmp_path / "bench"
    _run(screening, data_dir, out)
    with open(out / "runs.csv", newline="") as f:
        runs = {int(r["seed"]): r for r in csv.DictReader(f)}
    orders = screening.read_orders(out / "orders.jsonl")
    assert sorted(o["seed"] for o in orders) == [0, 1] == sorted(runs)

    scorer = _module("score_order")
    truth = scorer.read_input_labels(data_dir / "small.csv", "label_included")
    record_ids = list(truth)  # the input's record_id column, in file order
    for order in orders:
        rows = [{"record_id": record_ids[i], "label": str(label), "is_prior": str(k < order["n_priors"])}
                for k, (i, label) in enumerate(zip(order["rows"], order["labels"]))]
        rescored = scorer.score(rows, truth)  # raises if a stored label disagrees with the input
        run = runs[order["seed"]]
        assert order["rows"][: order["n_priors"]] == [int(i) for i in run["prior_rows"].split()]
        for key in ("wss_95", "wss_100", "rrf_10", "atd", "loss"):
            assert rescored[key] == pytest.approx(float(run[key]), abs=1e-9), key

        # the pictures' recall curves: the run's counts exclude the priors, the curve's own do not
        x, recall = screening.recall_curve(order["labels"], order["n_priors"], int(run["n_records"]),
                                           int(run["n_relevant"]))
        assert recall.max() == recall[-1] == 1.0 and x[-1] == 1.0
        n_screened = len(order["rows"]) - order["n_priors"]
        assert x[n_screened] == pytest.approx(n_screened / rescored["n_records"]) and x[n_screened] <= 1.0

    for name in ("wss95_label_included.png", "recall_label_included.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_second_configuration_into_the_same_folder_keeps_the_first_ones_table(screening, data_dir, tmp_path):
    out = tmp_path / "bench"
    _run(screening, data_dir, out)
    default_table = (out / "table.md").read_text()
    screening.main(["--data-dir", str(data_dir), "--seeds", "0-1", "--labels", "label_included", "--out", str(out),
                    "--model-name", "C=3", "--learner", '{"classifier": {"C": 3.0}}'])
    assert (out / "table.md").read_text() == default_table  # not overwritten
    assert "ldnscreen:C=3" in (out / "table_C_3.md").read_text() and "ldnscreen:default" not in (out / "table_C_3.md").read_text()
    for name in ("wss95_label_included_C_3.png", "recall_label_included_C_3.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rerun_skips_finished_runs_and_keeps_their_orders(screening, data_dir, tmp_path):
    out = tmp_path / "bench"
    _run(screening, data_dir, out)
    first = (out / "orders.jsonl").read_text()
    _run(screening, data_dir, out)
    assert (out / "orders.jsonl").read_text() == first
    assert len((out / "runs.csv").read_text().splitlines()) == 3  # header + 2 runs


def test_a_half_written_last_order_is_skipped(screening, tmp_path):
    path = tmp_path / "orders.jsonl"
    screening.append_order(path, {"dataset": "d", "seed": 0}, [3, 1, 2], [1, 0, 1], 2)
    with open(path, "a") as f:
        f.write('{"dataset": "d", "seed": 1, "rows": [4, ')  # killed while writing
    orders = screening.read_orders(path)
    assert orders == [{"dataset": "d", "seed": 0, "n_priors": 2, "rows": [3, 1, 2], "labels": [1, 0, 1]}]


def test_recall_curve_runs_to_the_end_of_the_dataset(screening):
    # 2 priors (one relevant), then 4 screened of 8 left: relevant 2nd and 4th; 2 relevant after the prior
    x, recall = screening.recall_curve([1, 0, 0, 1, 0, 1], 2, 8, 2)
    assert list(recall) == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0]
    assert list(x) == [0.0, 0.125, 0.25, 0.375, 0.5, 1.0]


def test_wilcoxon_over_datasets(screening):
    assert screening._wilcoxon_p([0.1]) is None
    assert screening._wilcoxon_p([0.0, 0.0, 0.1]) is None  # ties with zero are dropped
    p_all_better = screening._wilcoxon_p([0.01 * k for k in range(1, 11)])
    assert p_all_better == pytest.approx(2 / 2**10)  # exact two-sided test: only the all-positive signs
    assert screening._wilcoxon_p([0.05, -0.04, 0.03, -0.02, 0.01, -0.06]) > 0.5


def test_runs_in_a_process_of_their_own_give_the_same_orders(screening, data_dir, tmp_path):
    same, fresh = tmp_path / "same", tmp_path / "fresh"
    _run(screening, data_dir, same)
    screening.main(["--data-dir", str(data_dir), "--seeds", "0-1", "--labels", "label_included",
                    "--ldnscreen-process", "fresh", "--out", str(fresh)])
    assert screening.read_orders(fresh / "orders.jsonl") == screening.read_orders(same / "orders.jsonl")
    with open(same / "runs.csv", newline="") as f_same, open(fresh / "runs.csv", newline="") as f_fresh:
        for a, b in zip(csv.DictReader(f_same), csv.DictReader(f_fresh), strict=True):
            assert {k: a[k] for k in ("seed", "prior_rows", "wss_95", "atd", "n_screened")} == \
                   {k: b[k] for k in ("seed", "prior_rows", "wss_95", "atd", "n_screened")}
            assert float(b["wall_seconds"]) > 0


def test_a_fresh_process_takes_the_default_learner_only(screening, data_dir, tmp_path):
    with pytest.raises(SystemExit):
        screening.main(["--data-dir", str(data_dir), "--ldnscreen-process", "fresh", "--batch-size", "5",
                        "--out", str(tmp_path / "x")])


def test_files_that_cannot_be_simulated_are_skipped_with_the_reason(screening, data_dir, tmp_path, capsys):
    rows = _rows()
    for row in rows:
        row["label_included"] = int(row is rows[4])  # one relevant record: the prior takes it
    with open(data_dir / "one.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (data_dir / "ids.csv").write_text("record_id,doi,label_included\n1,10.1/x,1\n")  # no text to screen
    (data_dir / "notes.txt").write_text("not data")
    out = tmp_path / "bench"
    _run(screening, data_dir, out)
    with open(out / "runs.csv", newline="") as f:
        assert {r["dataset"] for r in csv.DictReader(f)} == {"small"}
    err = " ".join(capsys.readouterr().err.split())
    assert "skipped ids.csv: ids.csv, line 1: no title or abstract column" in err
    assert "skipped one.csv label_included: 1 relevant of 60 records leave none to find" in err


def test_recall_levels_from_the_stored_orders(screening, data_dir, tmp_path, capsys):
    out = tmp_path / "bench"
    _run(screening, data_dir, out)
    # a peer that screened in exactly the same order: no difference at any level
    rows = list(csv.DictReader(open(out / "runs.csv", newline="")))
    for row in rows:
        screening.append_row(out / "runs.csv", {**row, "tool": "asreview", "model": "elas_u4"})
    for order in screening.read_orders(out / "orders.jsonl"):
        with open(out / "orders.jsonl", "a") as f:
            f.write(json.dumps({**order, "tool": "asreview", "model": "elas_u4"}) + "\n")
    levels = _module("recall_levels")
    assert levels.report(out, "label_included", model="another") is None  # no such ldnscreen configuration ran
    by_level = levels.wss_by_level(out, "label_included")
    at_95 = levels.summarise(by_level[0.95])
    assert at_95["ldnscreen"] == pytest.approx(sum(float(r["wss_95"]) for r in rows) / len(rows))  # one dataset
    assert all(levels.summarise(by_level[level])["difference"] == 0.0 for level in (0.8, 0.9, 1.0, "95c"))
    assert levels.main([str(out)]) == 0
    assert "| WSS@95 (the benchmark's) |" in capsys.readouterr().out
    assert (out / "recall_levels_label_included.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / "runs.csv", "a") as f:  # a stored WSS@95 that its order does not give is an error
        f.write(",".join(str({**rows[0], "seed": "7", "wss_95": "0.5"}.get(k, "")) for k in screening.FIELDS) + "\n")
    with open(out / "orders.jsonl", "a") as f:
        for tool, model in (("ldnscreen", "default"), ("asreview", "elas_u4")):
            f.write(json.dumps({**screening.read_orders(out / "orders.jsonl")[0], "seed": 7, "tool": tool,
                                "model": model}) + "\n")
    with pytest.raises(ValueError, match="seed 7 .* does not give its runs.csv WSS@95"):
        levels.wss_by_level(out, "label_included")


def test_composed_reviews_keep_their_own_labels_and_drop_repeats(tmp_path, capsys):
    compose_reviews = _module("compose_reviews")
    header = ["record_id", "title", "abstract", "pmid", "keywords", "label_included"]
    tables = {
        "ace": [["a1", "ACE inhibitor trial", "enalapril", "11", "ACE", "1"],
                ["a2", "Rat kidney study", "", "12", "", "0"],
                ["a3", "Unlabelled record", "", "13", "", ""]],
        "beta": [["b1", "Beta blocker trial", "metoprolol", "21", "", "1"],
                 ["b2", "ACE inhibitor trial.", "the same record, found by both searches", "", "", "1"],
                 ["b3", "Another record of ACE's", "", "11", "", "0"]],
    }
    for name, rows in tables.items():
        with open(tmp_path / f"{name}.csv", "w", newline="") as handle:
            csv.writer(handle).writerows([header, *rows])
    out = tmp_path / "composed"
    compose_reviews.main(["--data-dir", str(tmp_path), "--out", str(out)])
    assert "| ace | 3 | 1 | 2 |" in capsys.readouterr().out
    with open(out / "composed_ace.csv", newline="") as handle:
        ace = list(csv.reader(handle))
    # ACE's labelled records with their labels, then beta's as irrelevant, less b2 (same title) and b3 (same PMID);
    # no keywords, whose absence in some reviews would tell the reviews apart
    assert ace == [["record_id", "title", "abstract", "label_included"],
                   ["ace:a1", "ACE inhibitor trial", "enalapril", "1"],
                   ["ace:a2", "Rat kidney study", "", "0"],
                   ["beta:b1", "Beta blocker trial", "metoprolol", "0"]]
    with open(out / "composed_beta.csv", newline="") as handle:
        beta = [row[0] for row in csv.reader(handle)][1:]
    assert beta == ["beta:b1", "beta:b2", "beta:b3", "ace:a2"]  # a1 repeats b2's title (and b3's PMID)
    # a folder from elsewhere: a spreadsheet is read, a bad file and a hidden one are skipped, a review
    # with nothing relevant is not written
    import openpyxl

    book = openpyxl.Workbook()
    for row in [header, ["c1", "Calcium channel trial", "amlodipine", "31", "", "1"]]:
        book.active.append(row)
    book.save(tmp_path / "calcium.xlsx")
    (tmp_path / "broken.csv").write_text("record_id,label_included\n1,1\n")  # no title or abstract
    (tmp_path / ".hidden.csv").write_text("title,label_included\nHidden,1\n")
    with open(tmp_path / "none.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([header, ["n1", "Nothing relevant here", "", "41", "", "0"]])
    out = tmp_path / "composed2"
    compose_reviews.main(["--data-dir", str(tmp_path), "--out", str(out)])
    said = capsys.readouterr()
    assert "skipped broken.csv" in said.err and "not written: none has no record labelled relevant" in said.err
    assert sorted(p.name for p in out.iterdir()) == ["composed_ace.csv", "composed_beta.csv", "composed_calcium.csv"]
    assert "Hidden" not in (out / "composed_ace.csv").read_text()


def test_merged_runs_keep_the_orders_of_the_runs_kept(screening, data_dir, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    _run(screening, data_dir, first)  # seeds 0-1
    screening.main(["--data-dir", str(data_dir), "--seeds", "1-2", "--labels", "label_included", "--out", str(second)])
    merged = tmp_path / "merged"
    _module("merge_runs").main([str(merged), str(first / "runs.csv"), str(second / "runs.csv")])
    orders = screening.read_orders(merged / "orders.jsonl")
    assert sorted(o["seed"] for o in orders) == [0, 1, 2]  # seed 1 once, from the first folder
    assert orders[:2] == screening.read_orders(first / "orders.jsonl")
    with open(merged / "runs.csv", newline="") as f:
        assert sorted(int(r["seed"]) for r in csv.DictReader(f)) == [0, 1, 2]


def test_lib_compare_runs_each_configuration_in_its_own_process_and_compares_orders(data_dir, tmp_path, capsys):
    lib_compare = _module("lib_compare")
    assert lib_compare.parse_config("new") == ("new", None, [])
    assert lib_compare.parse_config("a=lib:/x;set:rankers.LIMIT=3") == ("a", "/x", [("rankers", "LIMIT", "3")])
    with pytest.raises(SystemExit, match="neither lib:DIR nor set:MODULE.ATTR=VALUE"):
        lib_compare.parse_config("a=rankers.LIMIT=3")
    assert lib_compare.compare([4, 1, 2], [1, 0, 0], [4, 2, 1], [1, 0, 0]) == "2 in other places, same labels"
    assert lib_compare.compare([4, 1, 2], [0, 1, 0], [1, 4, 2], [1, 0, 0]) == "2 in other places, other labels"
    # scoring through the kept kernel rows (the default) or without them: the same orders, by construction
    out = tmp_path / "runs.jsonl"
    lib_compare.main([str(data_dir / "small.csv"), "--config", "plain=set:rankers._SCORING_GRAM_CELLS=0",
                      "--config", "kept", "--repeats", "1", "--seeds", "0,1", "--out", str(out)])
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| small")]
    assert len(table) == 2 and all(line.endswith("| identical |") for line in table)
    runs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["config"], r["seed"]) for r in runs] == [("plain", 0), ("kept", 0), ("plain", 1), ("kept", 1)]
    assert runs[0]["order_sha1"] == runs[1]["order_sha1"] != runs[2]["order_sha1"] == runs[3]["order_sha1"]
    with pytest.raises(SystemExit, match="ldnscreen.rankers has no attribute '_SCORING_GRAM_CEL'"):
        lib_compare.main([str(data_dir / "small.csv"), "--config", "typo=set:rankers._SCORING_GRAM_CEL=0",
                          "--config", "kept", "--repeats", "1"])


def test_a_folder_from_elsewhere_runs_what_it_can_and_says_what_it_cannot(screening, data_dir, tmp_path, capsys):
    # a record_id repeated in the file: simulate names records by row number, and the stored rows follow
    rows = _rows()
    rows[-1]["record_id"] = rows[0]["record_id"]
    with open(data_dir / "repeats.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (data_dir / "notes.txt").write_text("not a dataset")
    out = tmp_path / "bench"
    screening.main(["--data-dir", str(data_dir), "--seeds", "1", "--labels", "label_included,label_abstract_screening",
                    "--datasets", "repeats,small,nosuch", "--out", str(out)])
    said = " ".join(capsys.readouterr().err.split())
    assert "not read" in said and "notes.txt" in said and "no file for dataset(s) nosuch" in said
    assert "skipped repeats.csv label_abstract_screening: no record has that label" in said
    order = next(o for o in screening.read_orders(out / "orders.jsonl") if o["dataset"] == "repeats")
    assert [int(rows[i]["label_included"]) for i in order["rows"]] == order["labels"]
    assert len(set(order["rows"])) == len(order["rows"])
    # a run killed between its order and its runs.csv row: the rerun leaves that order once
    lines = (out / "runs.csv").read_text().splitlines()
    (out / "runs.csv").write_text("\n".join(lines[:-1]) + "\n")
    screening.main(["--data-dir", str(data_dir), "--seeds", "1", "--labels", "label_included",
                    "--datasets", "repeats,small", "--out", str(out)])
    keys = [(o["dataset"], o["seed"], o["tool"]) for o in screening.read_orders(out / "orders.jsonl")]
    assert len(keys) == len(set(keys)) == 2
    # what cannot run says so
    with pytest.raises(SystemExit, match="nothing to run"):
        screening.main(["--data-dir", str(data_dir), "--datasets", "nosuch", "--out", str(tmp_path / "none")])
    (data_dir / "small.xlsx").write_bytes(b"")
    with pytest.raises(SystemExit, match="small.csv and small.xlsx would both be dataset 'small'"):
        screening.main(["--data-dir", str(data_dir), "--out", str(tmp_path / "twice")])
    with pytest.raises(SystemExit):
        screening.main(["--table-only", "--out", str(tmp_path / "no-such-run")])
    assert "has no runs.csv" in capsys.readouterr().err
    assert _module("recall_levels").main([str(tmp_path / "no-such-run")]) == 1
