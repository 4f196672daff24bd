"""Study design rules of ldnscreen.extract.studytype."""

import pytest

from ldnscreen.extract.studytype import STUDY_TYPES, classify_study_type


@pytest.mark.parametrize(
    "text, publication_types, expected",
    [
        ("Naltrexone in fibromyalgia.", ["Randomized Controlled Trial"], "randomised controlled trial"),
        ("Naltrexone in fibromyalgia.", ["Meta-Analysis"], "systematic review"),
        ("LDN for pain.", ["Case Reports"], "case report/series"),
        ("A double-blind, placebo-controlled crossover study of LDN in 31 women.", [], "randomised controlled trial"),
        ("Patients were randomly assigned to LDN or placebo.", [], "randomised controlled trial"),
        ("We conducted a systematic review of LDN trials.", [], "systematic review"),
        ("An open-label, single-arm pilot study of LDN in 12 patients.", [], "prospective non-randomised"),
        ("We prospectively followed 40 patients given LDN.", [], "prospective non-randomised"),
        ("A retrospective chart review of 88 patients.", [], "retrospective"),
        ("We report a case of CRPS treated with LDN.", [], "case report/series"),
        ("A 45-year-old woman with CRPS responded to LDN.", [], "case report/series"),
        ("Naltrexone reduced allodynia in rats after nerve ligation.", [], "animal"),
        ("Naltrexone inhibited TLR4 signalling in cultured microglia in vitro.", [], "in vitro"),
        ("A pharmacokinetic modelling study simulated LDN exposure.", [], "simulation/model"),
        ("Naltrexone: an update.", ["Journal Article"], "other"),
    ],
)
def test_study_types(text, publication_types, expected):
    assert classify_study_type(text, publication_types) == expected
    assert expected in STUDY_TYPES


def test_human_study_mentioning_animal_work_is_not_animal():
    text = ("Twenty patients with fibromyalgia took LDN in an open-label study; earlier work in rats "
            "suggested glial effects. Patients reported less pain.")
    assert classify_study_type(text) == "prospective non-randomised"


def test_publication_type_wins_over_text():
    assert classify_study_type("A retrospective review", ["Randomized Controlled Trial"]) == "randomised controlled trial"
