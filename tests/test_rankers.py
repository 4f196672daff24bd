"""Tests of ldnscreen.rankers: the inclusion classifier and the active-learning loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from ldnscreen.features import TextFeatures
from ldnscreen.rankers import ActiveLearner, InclusionClassifier, rank, retrain_interval
from ldnscreen.records import Record

DOCS = [
    "Low-dose naltrexone for fibromyalgia: a randomised trial",          # 0 include
    "Opioid tolerance in rats given morphine",                            # 1 exclude
    "Low-dose naltrexone reduces pain in complex regional pain syndrome",  # 2
    "Morphine and mice: tolerance after chronic dosing",                  # 3
    "Naltrexone at low dose for chronic pain: case series",               # 4
    "Statin therapy and cholesterol in adults",                           # 5
    "Morphine withdrawal in rats",                                        # 6
    "Fibromyalgia pain relief with low-dose naltrexone: pilot study",     # 7
]


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # sklearn's one-label check itself
@parametrize_with_checks([InclusionClassifier()])
def test_inclusion_classifier_passes_sklearn_checks(estimator, check):
    check(estimator)


def test_inclusion_classifier_rejects_one_class_and_multiclass():
    X = np.eye(4)
    with pytest.raises(ValueError, match="only one class"):
        InclusionClassifier().fit(X, [1, 1, 1, 1])
    with pytest.raises(ValueError, match="Only binary"):
        InclusionClassifier().fit(X, [0, 1, 2, 1])


def test_class_weighting_lifts_the_rare_class():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    y = (X[:, 0] + 0.8 * rng.normal(size=400) > 2.2).astype(int)  # about 3 % included
    balanced = InclusionClassifier().fit(X, y).predict(X).sum()
    plain = InclusionClassifier(class_weight=None).fit(X, y).predict(X).sum()
    assert balanced > plain


def learner(**kwargs) -> ActiveLearner:
    return ActiveLearner(features=TextFeatures(min_df=1), **kwargs).fit_features(DOCS)


def test_without_labels_or_criteria_the_order_is_seeded_random():
    first = learner(random_state=0).next(n=8)
    assert first == learner(random_state=0).next(n=8)
    assert first != list(range(8))
    assert first != learner(random_state=1).next(n=8)


def test_after_one_inclusion_and_exclusion_similar_records_come_first():
    model = learner(random_state=0)
    model.label(0, 1)
    model.label(1, 0)
    top = model.next(n=3)
    assert set(top) == {2, 4, 7}
    scores = model.scores()
    assert scores.shape == (8,) and 0 <= scores.min() and scores.max() <= 1
    assert scores[7] > scores[6]


def test_labelled_records_are_never_proposed_and_unlabel_returns_them():
    model = learner(random_state=0)
    model.label(0, 1)
    model.label(1, 0)
    assert not {0, 1} & set(model.next(n=8))
    assert len(model.next(n=8)) == 6
    model.unlabel(0)
    assert 0 in model.next(n=8)
    assert model.labels == {1: 0}


def test_retrains_after_every_decision_while_small():
    model = learner(random_state=0)
    model.label(0, 1)
    model.label(1, 0)
    model.next()
    assert model.n_fits_ == 1
    model.label(7, 1)
    model.next()
    assert model.n_fits_ == 2 and model.n_labels_at_fit_ == 3


def test_fixed_retrain_interval_is_respected():
    model = learner(random_state=0, retrain_every=3)
    model.label(0, 1)
    model.label(1, 0)
    model.next()  # first fit as soon as both classes exist
    assert model.n_fits_ == 1
    model.label(2, 1)
    model.label(3, 0)
    model.next()
    assert model.n_fits_ == 1
    model.label(5, 0)
    model.next()
    assert model.n_fits_ == 2 and model.n_labels_at_fit_ == 5


def test_auto_retrain_rule():
    assert retrain_interval(2_000, 1_500) == 1
    assert retrain_interval(100_000, 5_000) == 1
    assert retrain_interval(1_000_000, 100) == 1
    assert retrain_interval(1_000_000, 300) == 3
    assert retrain_interval(1_000_000, 5_000) == 10


def test_top_terms_explain_the_score():
    model = learner(random_state=0)
    model.label(0, 1)
    model.label(1, 0)
    terms = dict(model.top_terms(7, k=10))
    assert "naltrexone" in terms or "low dose" in terms
    assert "morphine" not in terms
    assert list(terms.values()) == sorted(terms.values(), reverse=True)
    assert all(not term.startswith("title:") for term in terms)


def test_label_validation():
    model = learner(random_state=0)
    with pytest.raises(ValueError, match="0 or 1"):
        model.label(0, 2)
    with pytest.raises(IndexError):
        model.label(99, 1)
    with pytest.raises(RuntimeError, match="fit_features"):
        ActiveLearner().next()


def test_set_matrix_uses_a_cached_matrix():
    features = TextFeatures(min_df=1).fit(DOCS)
    model = ActiveLearner(random_state=0).set_matrix(features.transform(DOCS), features)
    model.label(0, 1)
    model.label(1, 0)
    assert set(model.next(n=3)) == {2, 4, 7}
    assert model.top_terms(7)


def test_mixed_query_in_the_learner_is_reproducible():
    def run(seed):
        model = learner(random_state=seed, query="mixed", query_options={"share": 0.5})
        model.label(0, 1)
        model.label(1, 0)
        picks = []
        for _ in range(6):
            i = model.next()[0]
            picks.append(i)
            model.label(i, int(i in (2, 4, 7)))
        return picks

    assert run(3) == run(3)


def test_prior_scores_lead_until_both_classes_are_labelled():
    model = learner(random_state=0)
    prior = np.linspace(0, 1, 8)
    model.set_prior_scores(prior)
    assert model.next(n=3) == [7, 6, 5]
    model.label(7, 1)  # one class only: still the prior
    assert model.next(n=1) == [6]
    model.label(1, 0)
    weight = model.prior_strength / (model.prior_strength + 2)
    np.testing.assert_allclose(model.scores(), weight * prior + (1 - weight) * model.model_scores_)


def test_rank_is_stateless_and_accepts_record_ids():
    records = [Record(title=t) for t in DOCS]
    order = rank(records, {records[0].id: 1, 1: 0}, random_state=0, features=TextFeatures(min_df=1))
    assert sorted(order.tolist()) == [2, 3, 4, 5, 6, 7]
    assert set(order[:3].tolist()) == {2, 4, 7}
    with pytest.raises(KeyError):
        rank(records, {"nope": 1}, features=TextFeatures(min_df=1))


def test_learner_beats_random_on_a_shared_dataset(shared_screening):
    import csv

    csv.field_size_limit(10**8)
    with open(shared_screening / "cohen2006_nsaids.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    records = [Record(title=r["title"], abstract=r["abstract"] or "", id=f"n{r['record_id']}") for r in rows]
    y = np.array([int(r["label_included"]) for r in rows])
    model = ActiveLearner(random_state=0).fit_features(records)
    model.label(int(np.flatnonzero(y == 1)[0]), 1)
    model.label(int(np.flatnonzero(y == 0)[0]), 0)
    found = 0
    budget = math.ceil(0.2 * len(y))
    for _ in range(budget):
        i = model.next()[0]
        model.label(i, int(y[i]))
        found += y[i]
    recall = found / (y.sum() - 1)
    assert recall > 0.6  # random screening would find about 20 %


def test_training_on_used_columns_gives_the_full_models_scores():
    # exact solves (the screening default's loose tolerance would blur the comparison)
    model = learner(random_state=0, classifier=InclusionClassifier())
    for i, y in [(0, 1), (1, 0), (5, 0), (7, 1)]:
        model.label(i, y)
    model.retrain()
    labelled = [0, 1, 5, 7]
    full = InclusionClassifier().fit(model.X_[labelled], [1, 0, 0, 1])
    np.testing.assert_allclose(model.model_scores_, full.predict_proba(model.X_)[:, 1], rtol=1e-5)


def test_any_probabilistic_classifier_can_be_used():
    from sklearn.naive_bayes import MultinomialNB

    model = learner(random_state=0, classifier=MultinomialNB())
    model.label(0, 1)
    model.label(1, 0)
    assert set(model.next(n=3)) == {2, 4, 7}
    assert model.top_terms(2) == []  # no linear weights to explain with
