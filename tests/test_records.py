"""The record value and the normalisations that deduplication and record ids rest on."""

from __future__ import annotations

import pytest

from ldnscreen.dedupe import find_duplicates
from ldnscreen.records import Record, normalise_doi

DOI = "10.1093/pm/pnaa901"


@pytest.mark.parametrize(
    "raw",
    [
        "doi.org/10.1093/pm/pnaa901",
        "https://www.doi.org/10.1093/pm/pnaa901",
        "http://dx.doi.org/10.1093/pm/pnaa901",
        "10.1093/pm/pnaa901 [doi]",  # MEDLINE AID
        "DOI 10.1093/pm/pnaa901",
        "DOI: 10.1093/PM/PNAA901.",
        "https://doi.org/10.1093%2Fpm%2Fpnaa901",
        "10.1093/pm/\u200bpnaa901\u200b",
        "\ufeff10.1093/pm/pnaa901",
    ],
)
def test_every_form_of_a_doi_normalises_alike(raw):
    assert normalise_doi(raw) == DOI


def test_a_doi_in_another_form_no_longer_keeps_duplicates_apart():
    title = "Low-dose naltrexone for fibromyalgia: a randomised, placebo-controlled, crossover trial"
    pubmed = Record(title, authors=("Younger J",), year=2020, doi=normalise_doi("10.1093/pm/pnaa901 [doi]"), id="a")
    scopus = Record(title + ".", authors=("Younger, Jarred",), year=2020, doi=normalise_doi(DOI), id="b")
    assert [group.member_ids for group in find_duplicates([pubmed, scopus])] == [("a", "b")]


def test_a_value_that_holds_no_doi_is_cleaned_as_before():
    assert normalise_doi(" doi:ABC/def; ") == "abc/def"
    assert normalise_doi("") == ""
