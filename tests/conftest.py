"""Shared fixtures: a review store in a temporary folder, a handful of records, the shared corpora."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ldnscreen.records import Provenance, Record
from ldnscreen.store import ReviewStore

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(os.environ.get("LDNSCREEN_SHARED", ROOT.parent / "shared"))
SCREENING = SHARED / "corpora" / "screening"
EXTRACTION = SHARED / "corpora" / "extraction"
DEMO = ROOT / "corpora" / "ldn_review" / "demo"
CRITERIA = ROOT / "corpora" / "ldn_review" / "criteria.toml"


@pytest.fixture
def shared_screening() -> Path:
    """The shared screening corpora folder; skips the test when it is absent."""
    if not SCREENING.is_dir():
        pytest.skip("../shared/corpora/screening is not available")
    return SCREENING


@pytest.fixture
def shared_extraction() -> Path:
    if not EXTRACTION.is_dir():
        pytest.skip("../shared/corpora/extraction is not available")
    return EXTRACTION


@pytest.fixture
def records() -> list[Record]:
    """Six small records from two databases, one citation exported by both."""
    def rec(i, title, db, **kw):
        return Record(title=title, provenance=(Provenance(db, f"{db}.export", i, str(i)),), **kw)

    return [
        rec(0, "Low-dose naltrexone for fibromyalgia: a pilot trial", "pubmed", year=2009,
            authors=("Younger, Jarred",), abstract="Ten women with fibromyalgia took 4.5 mg naltrexone."),
        rec(1, "Low-dose naltrexone in complex regional pain syndrome", "pubmed", year=2016,
            authors=("Chopra, P",), doi="10.1000/crps.1"),
        rec(2, "Naltrexone in a rat model of neuropathic pain", "pubmed", year=2012, authors=("Smith, A",)),
        rec(0, "Opioid antagonists: a narrative review", "embase", year=2018, authors=("Doe, J",),
            publication_types=("Review",)),
        rec(1, "Low dose naltrexone in complex regional pain syndrome.", "embase", year=2016,
            authors=("Chopra P",), doi="https://doi.org/10.1000/CRPS.1", abstract="Embase adds an abstract."),
        rec(2, "Acute postoperative pain after naltrexone", "embase", year=2011, authors=("Roe, R",)),
    ]


@pytest.fixture
def store(tmp_path, records) -> ReviewStore:
    """A review in a temporary folder holding ``records`` (imported as two files)."""
    s = ReviewStore.create(tmp_path / "review", criteria_text=CRITERIA.read_text() if CRITERIA.exists() else None)
    s.add_records(records[:3], file_name="pubmed.export", content=b"pubmed", database="pubmed")
    s.add_records(records[3:], file_name="embase.export", content=b"embase", database="embase")
    yield s
    s.close()
