"""The illustrative LDN demo exports read cleanly and match labels.csv."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from ldnscreen.io import read_file

DEMO = Path(__file__).resolve().parents[1] / "corpora" / "ldn_review" / "demo"
EXPORTS = {"pubmed.nbib": ("medline", "pubmed", 25), "embase.ris": ("ris", "embase", 25),
           "wos.txt": ("wos-plain", "wos", 31)}
MARK = "Illustrative record written for the ldnscreen demo; not a real study."


@pytest.fixture(scope="module")
def demo():
    if not (DEMO / "labels.csv").exists():
        pytest.skip("corpora/ldn_review/demo is not there")
    records = {name: read_file(DEMO / name) for name in EXPORTS}
    with open(DEMO / "labels.csv", newline="", encoding="utf-8") as handle:
        labels = list(csv.DictReader(handle))
    return records, labels


def test_demo_exports_are_read_in_their_formats(demo):
    records, _ = demo
    for name, (fmt, database, count) in EXPORTS.items():
        result = records[name]
        assert (result.format, result.database, len(result.records), result.skipped) == (fmt, database, count, [])


def test_every_demo_record_says_it_is_invented(demo):
    records, _ = demo
    assert all(r.abstract.endswith(MARK) for result in records.values() for r in result.records)
    assert (DEMO / "README.md").read_text().count("not a real study") >= 1


def test_labels_cover_every_record_with_a_fifth_duplicates(demo):
    records, labels = demo
    by_source = {(r.provenance[0].file, r.provenance[0].source_id): r
                 for result in records.values() for r in result.records}
    keys = {(row["file"], row["source_id"]) for row in labels}
    assert keys == set(by_source)
    duplicates = [row for row in labels if row["duplicate_of"]]
    assert len(duplicates) == 16 and abs(len(duplicates) / len(labels) - 0.2) < 0.02
    for row in duplicates:  # a duplicate points at a kept copy of the same study, with the same decision
        kept = next(r for r in labels if f"{r['file']}:{r['source_id']}" == row["duplicate_of"])
        assert (kept["study"], kept["decision"], kept["duplicate_of"]) == (row["study"], row["decision"], "")
    studies = {row["study"]: row["decision"] for row in labels}
    assert Counter(studies.values()) == {"include": 29, "exclude": 36}
    assert {row["reason"] for row in labels if row["decision"] == "exclude"} >= {
        "not about pain", "animal model", "in vitro", "review article", "conference abstract",
        "no English translation", "acute pain only", "not about LDN"}


def test_duplicates_differ_the_way_real_exports_do(demo):
    records, labels = demo
    by_source = {(r.provenance[0].file, r.provenance[0].source_id): r
                 for result in records.values() for r in result.records}
    pairs = [(by_source[(row["file"], row["source_id"])], by_source[tuple(row["duplicate_of"].split(":", 1))])
             for row in labels if row["duplicate_of"]]
    assert any(a.title.isupper() for a, _ in pairs)
    assert any(a.doi == "" and b.doi for a, b in pairs)
    assert any(len(a.title) < len(b.title) - 20 for a, b in pairs)  # truncated title
    assert any(a.title.lower() != b.title.lower() and a.title.replace("-", " ").lower() != a.title.lower()
               for a, b in pairs)
    assert any(a.authors[0].split(",")[1].strip() != b.authors[0].split(",")[1].strip() for a, b in pairs)
