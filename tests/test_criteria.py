"""Tests of ldnscreen.criteria: reading the TOML criteria and suggesting exclusion reasons."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ldnscreen.criteria import Criteria, ExclusionReason, parse_search_query
from ldnscreen.records import Record

CRITERIA = Path(__file__).resolve().parents[1] / "corpora" / "ldn_review" / "criteria.toml"


@pytest.fixture(scope="module")
def ldn() -> Criteria:
    return Criteria.load(CRITERIA)


def test_load_ldn_criteria(ldn):
    assert ldn.name.startswith("Low-dose naltrexone")
    assert ldn.databases == ("PubMed", "Embase", "Web of Science")
    assert ldn.date_from == dt.date(1950, 1, 1) and ldn.date_to == dt.date(2020, 7, 31)
    assert "fibromyalgia" in ldn.inclusion_terms
    assert ldn.records_found["Web of Science"] == 152
    assert ldn.reasons("title-abstract")[0] == "conference abstract"
    assert "animal model" in ldn.reasons("full-text")
    assert "animal model" not in ldn.reasons("title-abstract")
    assert len(ldn.reasons(None)) == len(ldn.exclusions)


def test_load_accepts_open_binary_file(ldn):
    with open(CRITERIA, "rb") as handle:
        assert Criteria.load(handle) == ldn


def test_query_terms_parse_phrases_and_drop_operators(ldn):
    assert ldn.query_terms[:3] == ("low-dose naltrexone", "pain", "chronic pain")
    assert "AND" not in ldn.query_terms and "or" not in ldn.query_terms
    assert parse_search_query('(naltrexone[tiab] OR LDN) NOT "animal*" AND TS=(pain NEAR/3 chronic)') == (
        "naltrexone", "ldn", "pain", "chronic",
    )


@pytest.mark.parametrize(
    "record, stage, expected",
    [
        (Record(title="Low-dose naltrexone for fibromyalgia: a pilot trial", abstract="Pain fell by 30%."), "title-abstract", None),
        (Record(title="Low-dose naltrexone for pain", publication_types=("Review",)), "title-abstract", "review article"),
        (Record(title="Naltrexone and chronic pain: a systematic review"), "title-abstract", "review article"),
        (Record(title="Low dose naltrexone in fibromyalgia", language="ger"), "title-abstract", "no English translation"),
        (Record(title="[Naltrexone in chronic pain]"), "title-abstract", "no English translation"),
        (Record(title="Naltrexone for alcohol dependence"), "title-abstract", "not about LDN"),  # addiction dose
        (Record(title="Naltrexone and sleep quality"), "title-abstract", "not about pain"),
        (Record(title="Ketamine infusions for CRPS"), "title-abstract", "not about LDN"),
        (Record(title="LDN in fibromyalgia", abstract="Poster presented at the annual meeting."), "title-abstract", "conference abstract"),
        (Record(title="Low-dose naltrexone in a rat model of neuropathic pain"), "full-text", "animal model"),
        (Record(title="Naltrexone for postoperative pain"), "full-text", "acute pain only"),
        (Record(title="Naltrexone in cultured microglia and pain", abstract="In vitro study."), "full-text", "in vitro"),
    ],
)
def test_suggest_reason(ldn, record, stage, expected):
    assert ldn.suggest_reason(record, stage=stage) == expected


def test_suggest_reason_follows_review_order(ldn):
    # a conference abstract that is also a review: the first listed reason wins
    record = Record(title="LDN for pain: a narrative review", abstract="Presented at the congress.")
    assert ldn.suggest_reason(record) == "conference abstract"


def test_suggest_reason_accepts_text(ldn):
    assert ldn.suggest_reason("Naltrexone in mice with neuropathic pain\nAbstract", stage="full-text") == "animal model"


def test_regexes_are_compiled_once():
    reason = ExclusionReason("animal model", patterns=(r"\brats?\b",))
    assert reason._compiled is reason._compiled
    assert reason.matches(Record(title="RATS given naltrexone"))  # case-insensitive


@pytest.mark.parametrize(
    "text, message",
    [
        ('question = "q"', "'name' is required"),
        ('name = "x"\n[[exclusion]]\nreason = "r"\nstage = "abstract"', "stage must be one of"),
        ('name = "x"\n[[exclusion]]\nreason = "r"\npatterns = ["(unclosed"]', "bad regular expression"),
        ('name = "x"\n[search]\ndate_from = "01/02/2020"', "not an ISO date"),
        ('name = "x" = y', "not valid TOML"),
        ('name = "x"\n[[exclusion]]\npatterns = []', "has no 'reason'"),
    ],
)
def test_invalid_criteria_raise_clear_errors(text, message):
    with pytest.raises(ValueError, match=message):
        Criteria.loads(text)


def test_unknown_stage_in_reasons(ldn):
    with pytest.raises(ValueError, match="unknown stage"):
        ldn.reasons("abstract")
