"""Tests of ldnscreen.prior: the criteria-informed cold start."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ldnscreen.criteria import Criteria
from ldnscreen.features import TextFeatures
from ldnscreen.prior import CriteriaPrior
from ldnscreen.rankers import ActiveLearner
from ldnscreen.records import Record

ROOT = Path(__file__).resolve().parents[1]
CRITERIA = ROOT / "corpora" / "ldn_review" / "criteria.toml"
DEMO = ROOT / "corpora" / "ldn_review" / "demo"

# Hand-made records in the style of the LDN search results: the first three
# are what the criteria describe; the others match the search but show an
# exclusion reason, or are off topic.
INCLUDED = [
    Record(title="Low-dose naltrexone for the treatment of fibromyalgia: a randomized, double-blind, placebo-controlled trial",
           abstract="Thirty women with fibromyalgia took 4.5 mg naltrexone daily; pain scores fell compared with placebo."),
    Record(title="Low-dose naltrexone in complex regional pain syndrome: a case series",
           abstract="Two patients with CRPS treated with LDN reported reduced pain and dystonia."),
    Record(title="Low dose naltrexone for chronic neuropathic pain: a retrospective cohort",
           abstract="Chronic pain patients given low-dose naltrexone showed improved pain intensity over six months."),
]
OTHERS = [
    Record(title="Low-dose naltrexone attenuates neuropathic pain in rats via toll-like receptor 4",
           abstract="Rats with chronic constriction injury received naltrexone; glial activation was reduced."),
    Record(title="Naltrexone for alcohol dependence: a randomized trial", abstract="Heavy drinkers received naltrexone."),
    Record(title="Low-dose naltrexone: a narrative review of its use in chronic pain",
           abstract="This review summarises the literature on LDN for fibromyalgia and CRPS.", publication_types=("Review",)),
    Record(title="Naltrexone in cultured microglia", abstract="In vitro study of cell lines exposed to naltrexone and pain mediators."),
    Record(title="Ketamine infusion for complex regional pain syndrome", abstract="Twenty patients with CRPS received ketamine."),
    Record(title="Exercise therapy for knee osteoarthritis", abstract="A trial of physiotherapy in older adults."),
    Record(title="Opioid prescribing trends in primary care", abstract="Prescriptions of opioids for chronic pain rose."),
    Record(title="Naltrexone for postoperative pain after knee surgery", abstract="Acute pain after surgery was measured."),
    Record(title="[Low-dose naltrexone in fibromyalgia]", abstract="", language="ger"),
]
RECORDS = INCLUDED + OTHERS


@pytest.fixture(scope="module")
def criteria() -> Criteria:
    return Criteria.load(CRITERIA)


def test_records_the_criteria_describe_come_first(criteria):
    scores = CriteriaPrior(criteria).scores(RECORDS)
    order = np.argsort(-scores, kind="stable")
    assert set(order[:3].tolist()) == {0, 1, 2}
    assert scores.min() >= 0 and scores.max() <= 1.0


def test_exclusion_evidence_pushes_records_down(criteria):
    with_penalty = CriteriaPrior(criteria).scores(RECORDS)
    without = CriteriaPrior(criteria, exclusion_penalty=1.0, strong_penalty=1.0).scores(RECORDS)
    rats, alcohol, review, german = 3, 4, 5, 11
    assert with_penalty[rats] == pytest.approx(without[rats] * 0.5)  # text pattern
    assert with_penalty[review] == pytest.approx(without[review] * 0.25)  # publication type
    assert with_penalty[german] == pytest.approx(without[german] * 0.25)  # language (and bracketed title)
    assert with_penalty[alcohol] == pytest.approx(without[alcohol] * 0.25 * 0.5)  # no pain term; addiction
    assert with_penalty[0] == pytest.approx(without[0], rel=0.3)


def test_each_search_concept_weighs_the_same(criteria):
    texts, weights = CriteriaPrior(criteria, query_weight=3).criteria_texts()
    # '"low-dose naltrexone" AND (six pain alternatives)': one term carries a whole clause
    assert weights[texts.index("low-dose naltrexone")] == pytest.approx(3.0)
    assert weights[texts.index("fibromyalgia")] == pytest.approx(3.0 / 6)
    assert weights[-1] == 1.0


def test_learner_uses_the_prior_before_any_label(criteria):
    learner = ActiveLearner(features=TextFeatures(min_df=1), prior=criteria, random_state=0).fit_features(RECORDS)
    assert set(learner.next(n=3)) == {0, 1, 2}
    terms = dict(learner.top_terms(0, k=5))
    assert "naltrexone" in terms or "fibromyalgia" in terms


def test_prior_weight_fades_as_labels_grow(criteria):
    learner = ActiveLearner(features=TextFeatures(min_df=1), prior=criteria, random_state=0).fit_features(RECORDS)
    learner.label(0, 1)
    learner.label(4, 0)
    early = learner.scores()
    for i in (5, 6, 7, 8, 9, 10):
        learner.label(i, 0)
    late = learner.scores()
    prior, model = learner.prior_scores_, learner.model_scores_
    # the blend moved toward the classifier: farther from the prior than before
    assert np.abs(late - prior).mean() > np.abs(early - prior).mean()
    assert np.allclose(late, (10 / 18) * prior + (8 / 18) * model)


def _demo_records():
    """The illustrative LDN demo records (one copy per study) and their include/exclude labels."""
    labels_file = DEMO / "labels.csv"
    if not labels_file.exists():
        pytest.skip("corpora/ldn_review/demo/labels.csv is not there")
    from ldnscreen.io import read_file

    with open(labels_file, newline="", encoding="utf-8") as handle:
        labels = [row for row in csv.DictReader(handle) if not row["duplicate_of"]]
    by_source = {}
    for name in {row["file"] for row in labels}:
        for record in read_file(DEMO / name).records:
            by_source[(name, record.provenance[0].source_id)] = record
    records = [by_source[(row["file"], row["source_id"])] for row in labels]
    return records, np.array([row["decision"] == "include" for row in labels], dtype=int), labels


def test_prior_ranks_the_demo_inclusions_first(criteria):
    records, y, _ = _demo_records()
    scores = CriteriaPrior(criteria).scores(records)
    top = np.argsort(-scores, kind="stable")[:20]
    # 29 of 65 studies are included: 8.9 expected in a random top 20; the prior gets 18
    assert y[top].sum() >= 15


def test_suggested_reasons_match_the_demo_decisions(criteria):
    records, y, labels = _demo_records()
    excluded = [(r, row) for r, row in zip(records, labels) if row["decision"] == "exclude"]
    agree = sum(criteria.suggest_reason(r, stage=row["stage"]) == row["reason"] for r, row in excluded)
    assert agree >= 0.6 * len(excluded)  # 27 of 36 with the criteria as written


def test_prior_beats_random_on_the_hand_made_records(criteria):
    # expected rank of the 3 included records under a random order: mean position 6 of 12
    scores = CriteriaPrior(criteria).scores(RECORDS)
    ranks = np.argsort(np.argsort(-scores))
    assert ranks[:3].mean() < 3


def test_set_matrix_with_records_computes_the_prior(criteria):
    features = TextFeatures(min_df=1).fit(RECORDS)
    learner = ActiveLearner(prior=criteria, random_state=0).set_matrix(features.transform(RECORDS), features, records=RECORDS)
    assert set(learner.next(n=3)) == {0, 1, 2}


def test_prior_from_topic_criteria_beats_random_on_a_shared_dataset(shared_screening):
    # criteria written from the review's public topic (corpora/criteria/), not from its labels
    csv.field_size_limit(10**8)
    with open(shared_screening / "cohen2006_adhd.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    records = [Record(title=r["title"], abstract=r["abstract"] or "", id=f"a{r['record_id']}") for r in rows]
    y = np.array([int(r["label_included"]) for r in rows])
    criteria = Criteria.load(ROOT / "corpora" / "criteria" / "cohen2006_adhd.toml")
    scores = CriteriaPrior(criteria).scores(records)
    top = np.argsort(-scores, kind="stable")[:100]
    expected_at_random = 100 * y.mean()  # about 2.4 of the 20 included records
    assert y[top].sum() >= 3 * expected_at_random
