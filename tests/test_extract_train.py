"""Training and evaluation of the extraction pipeline.

The fast tests train for one epoch on the tiny real-format fixtures; the slow
ones load the shipped pipeline in models/ldnscreen_extract and score it on the
shared corpora.
"""

import functools
import json
import os
import shutil
from pathlib import Path

import pytest
import spacy

import ldnscreen.extract  # noqa: F401  (registers the factories for spacy.load)
from ldnscreen.extract import DEFAULT_MODEL, extract_records, load_pipeline
from ldnscreen.extract.train import (
    evaluate,
    format_scores,
    main,
    read_conll,
    span_scores,
    split_ade,
    split_blocks,
    train,
)

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_shared(tmp_path_factory):
    shared = tmp_path_factory.mktemp("shared")
    folder = shared / "corpora" / "extraction"
    folder.mkdir(parents=True)
    shutil.copy(DATA / "extract_ebm_sample.conll", folder / "ebm_nlp_participants_train.conll")
    shutil.copy(DATA / "extract_ade_sample.jsonl", folder / "ade_drug_dose_dev.jsonl")
    return shared


@pytest.fixture(scope="module")
def tiny_model(tiny_shared, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "pipeline"
    result = train(tiny_shared, out, epochs=1, log=lambda message: None)
    return out, result


def test_read_conll_fixture():
    sentences = read_conll(DATA / "extract_ebm_sample.conll")
    assert len(sentences) == 30
    assert ("enrolled", "O") in sentences[0]
    assert any(label == "SampleSize" for _, label in sentences[0])


def test_splits_are_seeded_and_disjoint():
    items = list(range(1000))
    train_, dev, test = split_blocks(items)
    assert split_blocks(items) == (train_, dev, test)
    assert sorted(train_ + dev + test) == items
    assert split_blocks(items, seed=1)[2] != test
    rows = [{"pmid": str(i % 40)} for i in range(100)]
    dev_rows, test_rows = split_ade(rows)
    assert not {r["pmid"] for r in dev_rows} & {r["pmid"] for r in test_rows}


def test_span_scores_exact_versus_overlap():
    scores = span_scores([(0, 3)], [(1, 3)])
    assert scores["exact"]["f"] == 0.0
    assert scores["overlap"]["f"] == 1.0
    assert span_scores([], [(0, 1)])["overlap"]["r"] == 0.0


def test_trained_directory_loads_with_spacy_load(tiny_model):
    out, _ = tiny_model
    nlp = spacy.load(out)
    assert nlp.pipe_names[:2] == ["sentencizer", "ner"]
    assert "ldnscreen_mentions" in nlp.pipe_names
    assert (out / "config.cfg").exists()
    assert set(nlp.get_pipe("ner").labels) == {"CONDITION", "SAMPLE_SIZE"}


def test_meta_scores_equal_evaluation(tiny_model, tiny_shared):
    out, result = tiny_model
    meta = json.loads((out / "meta.json").read_text())
    again = evaluate(load_pipeline(out), tiny_shared)
    assert meta["performance"] == again["performance"] == result["performance"]
    assert set(meta["performance"]) == {"DOSE", "SAMPLE_SIZE", "CONDITION"}
    for label in meta["performance"]:
        assert set(meta["performance"][label]["exact"]) == {"p", "r", "f"}
        assert set(meta["performance"][label]["overlap"]) == {"p", "r", "f"}
    assert meta["performance"]["DOSE"]["overlap"]["r"] == 1.0  # all four fixture doses


def test_evaluate_command_prints_meta_scores(tiny_model, tiny_shared, capsys):
    out, result = tiny_model
    assert main(["--shared", str(tiny_shared), "--evaluate", str(out)]) == 0
    assert capsys.readouterr().out.strip() == format_scores(result)


# ---------------------------------------------------------------- the shipped pipeline

SHARED = Path(os.environ.get("LDNSCREEN_SHARED", ROOT.parent / "shared"))


@functools.lru_cache(maxsize=1)
def _load_shipped():
    return load_pipeline()


def _shipped():
    if not (DEFAULT_MODEL / "meta.json").exists():
        pytest.skip("models/ldnscreen_extract has not been trained")
    return _load_shipped()


@pytest.mark.slow
def test_shipped_meta_equals_evaluation():
    nlp = _shipped()
    if not (SHARED / "corpora" / "extraction").is_dir():
        pytest.skip("../shared/corpora/extraction is not available")
    meta = json.loads((DEFAULT_MODEL / "meta.json").read_text())
    assert evaluate(nlp, SHARED)["performance"] == meta["performance"]


@pytest.mark.slow
def test_shipped_pipeline_meets_dose_and_value_targets():
    _shipped()
    performance = json.loads((DEFAULT_MODEL / "meta.json").read_text())["performance"]
    assert performance["DOSE"]["overlap"]["r"] >= 0.95
    assert performance["SAMPLE_SIZE"]["value_accuracy"] >= 0.9


@pytest.mark.slow
def test_shipped_pipeline_on_ldn_abstract():
    nlp = _shipped()
    record = {
        "record_id": "x",
        "title": "Low-dose naltrexone for complex regional pain syndrome",
        "abstract": ("Complex regional pain syndrome (CRPS) is a chronic pain condition. In this randomized, "
                     "double-blind trial, 46 patients with CRPS type 1 (n = 46) received naltrexone 4.5 mg at "
                     "bedtime or placebo for 12 weeks. Patients were aged 45 years on average (p = 0.03)."),
    }
    [e] = extract_records([record], nlp)
    assert e.study_type == "randomised controlled trial"
    assert {m.value for m in e.sample_sizes} == {46}
    assert "naltrexone 4.5 mg at bedtime" in [m.normalised for m in e.doses]
    assert e.conditions


def test_write_meta_updates_scores_and_keeps_training(tiny_model, tiny_shared, tmp_path):
    out, _ = tiny_model
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    meta = json.loads((copy / "meta.json").read_text())
    meta["performance"]["DOSE"]["overlap"]["r"] = -1.0
    (copy / "meta.json").write_text(json.dumps(meta))
    assert main(["--shared", str(tiny_shared), "--evaluate", str(copy), "--write-meta"]) == 0
    updated = json.loads((copy / "meta.json").read_text())
    assert updated["performance"]["DOSE"]["overlap"]["r"] == 1.0
    assert updated["ldnscreen"]["training"]["epochs"] == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "sentence, label, normalised",
    [
        ("Patients took naltrexone 4.5 mg/day.", "DOSE", "naltrexone 4.5 mg daily"),
        ("Naltrexone was given as 1.5 mg at bedtime.", "DOSE", "Naltrexone 1.5 mg at bedtime"),
        ("Naltrexone doses of 0.75 to 6 mg were used.", "DOSE", "Naltrexone 0.75-6 mg"),
        ("Naltrexone 3-250 mg was studied.", "DOSE", "Naltrexone 3-250 mg"),
        ("Methotrexate 1500 mg/m2 was infused.", "DOSE", "Methotrexate 1500 mg/m2"),
        ("Ketamine 0.15 mg/kg was infused.", "DOSE", "Ketamine 0.15 mg/kg"),
        ("A 4.5-mg naltrexone capsule was taken.", "DOSE", "naltrexone 4.5 mg"),
        ("Naltrexone was titrated from 1 mg to 4.5 mg.", "DOSE", "Naltrexone 1-4.5 mg"),
        ("Patients were randomised (n = 267).", "SAMPLE_SIZE", "267 Patients"),
        ("We enrolled 25 fibromyalgia patients.", "SAMPLE_SIZE", "25 fibromyalgia patients"),
        ("Ten healthy volunteers took part.", "SAMPLE_SIZE", "10 healthy volunteers"),
        ("A total of 3,993 records were screened.", "SAMPLE_SIZE", "3993 records"),
        ("Women with fibromyalgia (N=31) took part.", "SAMPLE_SIZE", "31 Women"),
        ("Patients with complex regional pain syndrome improved.", "CONDITION", "complex regional pain syndrome"),
        ("Eight patients with CRPS type 1 improved.", "CONDITION", "CRPS type 1"),
        ("Women with fibromyalgia improved.", "CONDITION", "fibromyalgia"),
        ("Adults with myalgic encephalomyelitis/chronic fatigue syndrome improved.", "CONDITION",
         "myalgic encephalomyelitis/chronic fatigue syndrome"),
        ("Veterans with Gulf War Illness improved.", "CONDITION", "Gulf War Illness"),
        ("A man with stiff-person syndrome improved.", "CONDITION", "stiff-person syndrome"),
    ],
)
def test_shipped_pipeline_issue_examples(sentence, label, normalised):
    nlp = _shipped()
    [e] = extract_records([{"record_id": "x", "title": "", "abstract": sentence}], nlp)
    mentions = {"DOSE": e.doses, "SAMPLE_SIZE": e.sample_sizes, "CONDITION": e.conditions}[label]
    assert normalised in [m.normalised for m in mentions]


@pytest.mark.slow
@pytest.mark.parametrize(
    "sentence",
    ["Participants were aged 45 years.", "The trial ran in 2015.", "Pain fell in 45% of patients.",
     "Pain improved (p = 0.03).", "Treatment lasted 12 weeks."],
)
def test_shipped_pipeline_not_sample_sizes(sentence):
    nlp = _shipped()
    [e] = extract_records([{"record_id": "x", "title": "", "abstract": sentence}], nlp)
    assert e.sample_sizes == ()
