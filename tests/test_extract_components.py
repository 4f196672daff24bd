"""Rule components of the extraction pipeline, on a blank spaCy pipeline (no trained model)."""

import pytest
import spacy

from ldnscreen.extract import load_pipeline
from ldnscreen.extract.components import (
    MENTION_GROUP,
    attach_drug,
    find_abbreviations,
    is_drug_like,
    population_noun,
)
from ldnscreen.extract.extraction import mentions_from_doc
from ldnscreen.extract.normalise import parse_dose


@pytest.fixture(scope="module")
def nlp():
    return load_pipeline("rules")


def _mentions(nlp, text, label):
    return [m for m in mentions_from_doc(nlp(text)) if m.label == label]


@pytest.mark.parametrize(
    "sentence, dose, low, high, unit, per, frequency",
    [
        ("Patients took naltrexone 4.5 mg/day for pain.", "4.5 mg/day", 4.5, 4.5, "mg", "", "daily"),
        ("LDN was given as 1.5 mg at bedtime.", "1.5 mg at bedtime", 1.5, 1.5, "mg", "", "at bedtime"),
        ("Doses ranged from 0.75 to 6 mg.", "from 0.75 to 6 mg", 0.75, 6, "mg", "", ""),
        ("Naltrexone 3-250 mg was used in trials.", "3-250 mg", 3, 250, "mg", "", ""),
        ("She received methotrexate 1500 mg/m2 intravenously.", "1500 mg/m2", 1500, 1500, "mg", "m2", ""),
        ("Ketamine 0.15 mg/kg was infused.", "0.15 mg/kg", 0.15, 0.15, "mg", "kg", ""),
        ("A 4.5-mg dose of naltrexone was taken nightly.", "4.5-mg", 4.5, 4.5, "mg", "", ""),
        ("Naltrexone was titrated from 1 mg to 4.5 mg.", "titrated from 1 mg to 4.5 mg", 1, 4.5, "mg", "", ""),
    ],
)
def test_dose_examples(nlp, sentence, dose, low, high, unit, per, frequency):
    [mention] = _mentions(nlp, sentence, "DOSE")
    assert mention.text == dose
    assert (mention.value, mention.high, mention.unit, mention.per, mention.frequency) == (
        low, high, unit, per, frequency)
    assert mention.sentence == sentence


@pytest.mark.parametrize(
    "sentence, drug",
    [
        ("Patients took naltrexone 4.5 mg/day for pain.", "naltrexone"),
        ("She received 100 mg of sodium aurothiomalate.", "sodium aurothiomalate"),
        ("An 83-year-old man receiving glipizide 10 mg bid became hypoglycaemic.", "glipizide"),
        ("Syncope followed isosorbide dinitrate (5 mg).", "isosorbide dinitrate"),
    ],
)
def test_dose_attached_to_its_drug(nlp, sentence, drug):
    [mention] = _mentions(nlp, sentence, "DOSE")
    assert mention.drug == drug


def test_qualitative_doses_are_found(nlp):
    doses = _mentions(nlp, "Toxicity followed high-dose methotrexate and an overdose of ibuprofen.", "DOSE")
    assert [(m.text, m.qualitative, m.drug) for m in doses] == [
        ("high-dose", "high", "methotrexate"), ("overdose", "overdose", "ibuprofen")]


@pytest.mark.parametrize(
    "sentence, value, population",
    [
        ("Patients were randomised (n = 267) to LDN or placebo.", 267, "Patients"),
        ("We enrolled 25 fibromyalgia patients.", 25, "fibromyalgia patients"),
        ("Ten healthy volunteers took part.", 10, "healthy volunteers"),
        ("A total of 3,993 records were screened.", 3993, "records"),
        ("Women with fibromyalgia (N=31) completed the trial.", 31, "Women"),
        ("Forty-five patients with CRPS were included.", 45, "patients"),
        ("One hundred and fifty-five subjects were analysed.", 155, "subjects"),
    ],
)
def test_sample_size_examples(nlp, sentence, value, population):
    [mention] = _mentions(nlp, sentence, "SAMPLE_SIZE")
    assert mention.value == value
    assert mention.population == population


@pytest.mark.parametrize(
    "sentence",
    [
        "Participants were aged 45 years on average.",
        "The study was conducted in 2015 at two clinics.",
        "Pain fell in 45% of participants.",
        "Pain improved (p = 0.03) with naltrexone.",
        "Treatment lasted 12 weeks in all participants.",
        "Naltrexone 4.5 mg was given to all patients.",
        "Two 45-year-old women were described.",
        "Scores fell by 2.5 points in patients.",
    ],
)
def test_not_a_sample_size(nlp, sentence):
    assert _mentions(nlp, sentence, "SAMPLE_SIZE") == []


@pytest.mark.parametrize("sentence", ["Patients were aged 45 years.", "Follow-up lasted 12 weeks.",
                                      "Pain fell in 45% (p = 0.03)."])
def test_not_a_dose(nlp, sentence):
    assert _mentions(nlp, sentence, "DOSE") == []


@pytest.mark.parametrize(
    "sentence, condition",
    [
        ("Patients with complex regional pain syndrome were enrolled.", "complex regional pain syndrome"),
        ("Eight patients with CRPS type 1 were treated.", "CRPS type 1"),
        ("Women with fibromyalgia took LDN.", "fibromyalgia"),
        ("Adults with myalgic encephalomyelitis/chronic fatigue syndrome were studied.",
         "myalgic encephalomyelitis/chronic fatigue syndrome"),
        ("Veterans with Gulf War Illness were recruited.", "Gulf War Illness"),
        ("A man with stiff-person syndrome improved.", "stiff-person syndrome"),
    ],
)
def test_condition_examples_rules(nlp, sentence, condition):
    assert condition in [m.text for m in _mentions(nlp, sentence, "CONDITION")]


def test_abbreviation_resolved_to_long_form(nlp):
    text = ("Complex regional pain syndrome (CRPS) is disabling. "
            "Two patients with CRPS type 1 took naltrexone.")
    conditions = _mentions(nlp, text, "CONDITION")
    assert "Complex regional pain syndrome type 1" in [m.normalised for m in conditions]
    assert {k: v.text for k, v in find_abbreviations(nlp(text)).items()} == {"CRPS": "Complex regional pain syndrome"}


def test_abbreviation_needs_matching_letters():
    doc = spacy.blank("en")("Patients with chronic pain (LDN) were seen.")
    assert find_abbreviations(doc) == {}


def test_drug_likeness():
    doc = spacy.blank("en")("naltrexone routine medicine gabapentin duloxetine baseline")
    assert [t.text for t in doc if is_drug_like(t)] == ["naltrexone", "gabapentin", "duloxetine"]


def test_population_noun_after_brackets():
    doc = spacy.blank("en")("patients ( n = 20 )")
    assert population_noun(doc[4:5]) == "patients"


def test_attach_drug_returns_none_without_a_drug(nlp):
    doc = nlp("The dose was 4.5 mg.")
    [dose] = [s for s in doc.spans[MENTION_GROUP] if s.label_ == "DOSE"]
    assert attach_drug(dose) is None
    assert parse_dose(dose.text).low == 4.5


def test_mentions_merger_uses_sources():
    nlp = load_pipeline("rules")
    nlp.get_pipe("ldnscreen_mentions").sources = {"DOSE": "model", "SAMPLE_SIZE": "rules", "CONDITION": "rules"}
    doc = nlp("Ten patients took naltrexone 4.5 mg.")
    assert [s.label_ for s in doc.spans[MENTION_GROUP]] == ["SAMPLE_SIZE"]


def test_pipeline_round_trips_through_disk(tmp_path):
    nlp = load_pipeline("rules")
    nlp.to_disk(tmp_path / "p")
    reloaded = spacy.load(tmp_path / "p")
    assert reloaded.pipe_names == nlp.pipe_names
    assert reloaded.get_pipe("ldnscreen_condition_lexicon").terms == nlp.get_pipe("ldnscreen_condition_lexicon").terms
    assert (tmp_path / "p" / "ldnscreen_condition_lexicon" / "terms.json").exists()


@pytest.mark.parametrize(
    "words, start, end, expected",
    [
        (["rhinitis", "was", ":"], 0, 3, "rhinitis"),
        (["(", "CRPS", ")"], 0, 3, "CRPS"),
        (["acute", "leukemia", "[", "ANLL", "]", ")"], 0, 6, "acute leukemia [ ANLL ]"),
        (["the", "fibromyalgia", "."], 0, 3, "fibromyalgia"),
    ],
)
def test_model_condition_spans_are_trimmed(words, start, end, expected):
    from spacy.tokens import Doc, Span

    nlp = load_pipeline("rules")
    nlp.get_pipe("ldnscreen_mentions").sources = {"DOSE": "rules", "SAMPLE_SIZE": "rules", "CONDITION": "model"}
    doc = Doc(nlp.vocab, words=words)
    doc.ents = [Span(doc, start, end, label="CONDITION")]
    doc = nlp.get_pipe("ldnscreen_mentions")(doc)
    assert [s.text for s in doc.spans[MENTION_GROUP]] == [expected]
