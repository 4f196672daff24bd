"""The Python API: extract_records (in process and through joblib) and extract_dataset."""

import csv
import dataclasses
import json
from pathlib import Path

import joblib
import pytest

from ldnscreen.extract import Extraction, Mention, extract_dataset, extract_records, load_csv_dataset, load_pipeline
from ldnscreen.records import Record

DATA = Path(__file__).parent / "data"


def _rows():
    with open(DATA / "extract_abstracts.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_extract_records_from_records():
    record = Record(title="LDN for CRPS", abstract="Eight patients with CRPS took naltrexone 4.5 mg at bedtime.",
                    publication_types=("Case Reports",))
    [extraction] = extract_records([record], model="rules")
    assert extraction.record_id == record.id
    assert extraction.study_type == "case report/series"
    assert extraction.sample_size == 8
    assert [m.normalised for m in extraction.doses] == ["naltrexone 4.5 mg at bedtime"]
    assert isinstance(extraction.doses[0], Mention)
    with pytest.raises(dataclasses.FrozenInstanceError):
        extraction.study_type = "other"


def test_extraction_per_record_in_order():
    extractions = extract_records(_rows(), model="rules")
    assert [e.record_id for e in extractions] == ["ldn1", "ldn2", "ldn3", "ldn4"]
    assert [e.study_type for e in extractions] == [
        "randomised controlled trial", "case report/series", "other", "animal"]
    assert [e.sample_size for e in extractions] == [31, 2, 3993, None]
    assert extractions[3].doses[0].per == "kg"


def test_ages_years_percentages_not_sample_sizes():
    [e] = extract_records([_rows()[0]], model="rules")
    assert {m.value for m in e.sample_sizes} == {31}


def test_joblib_default_backend_gives_same_result():
    rows = _rows()
    serial = extract_records(rows, model="rules")
    with joblib.parallel_backend("loky"):
        parallel = extract_records(rows, model="rules", n_jobs=2, chunk_size=1)
    assert parallel == serial


def test_nlp_object_is_used():
    nlp = load_pipeline("rules")
    nlp.get_pipe("ldnscreen_mentions").sources = {"DOSE": "model", "SAMPLE_SIZE": "rules", "CONDITION": "rules"}
    [e] = extract_records([_rows()[0]], nlp)
    assert e.doses == ()


def test_extract_dataset_from_memory_mapped_csv(tmp_path):
    ds = load_csv_dataset(DATA / "extract_abstracts.csv", cache_dir=tmp_path / "cache")
    assert ds.cache_files  # backed by an Arrow file on disk, not held in memory
    out = extract_dataset(ds, model="rules", batch_size=2)
    assert list(out["record_id"]) == ["ldn1", "ldn2", "ldn3", "ldn4"]
    assert list(out["sample_size"]) == [31, 2, 3993, None]
    assert list(out["study_type"])[0] == "randomised controlled trial"
    assert "naltrexone 4.5 mg daily" in list(out["doses"])[0]
    detail = json.loads(list(out["extraction"])[1])
    assert detail["record_id"] == "ldn2"
    assert detail["doses"][1]["high"] == 4.5


def test_extraction_to_dict_is_json_serialisable():
    [e] = extract_records([_rows()[1]], model="rules")
    assert isinstance(e, Extraction)
    assert json.loads(json.dumps(e.to_dict()))["conditions"]
