"""Tests of ldnscreen.rankers: the inclusion classifier and the active-learning loop."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from ldnscreen.features import TextFeatures
from ldnscreen.rankers import SCREENING_CLASSIFIER, ActiveLearner, InclusionClassifier, rank, retrain_interval
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
@parametrize_with_checks([InclusionClassifier(), InclusionClassifier(solver="kernel-newton")])
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
    model = learner(random_state=0, classifier=InclusionClassifier(), neighbour_weight=0.0)  # the model alone
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


def exact_scores(model: ActiveLearner, **classifier_options) -> np.ndarray:
    """p(included) of liblinear's primal problem solved to 1e-10 on the learner's current labels."""
    labelled = np.flatnonzero(model.labels_ >= 0)
    options = {"inclusion_boost": 10.0, "tol": 1e-10, "max_iter": 100_000, **classifier_options}
    full = InclusionClassifier(**options).fit(model.X_[labelled], model.labels_[labelled])
    return full.predict_proba(model.X_)[:, 1]


def test_kernel_solver_classifier_matches_exact_liblinear():
    X = TextFeatures(min_df=1).fit_transform(DOCS)
    y = [1, 0, 1, 0, 1, 0, 0, 1]
    for options in ({}, {"inclusion_boost": 10.0, "C": 3.0}, {"class_weight": None}):
        kernel = InclusionClassifier(solver="kernel-newton", **options).fit(X, y)
        exact = InclusionClassifier(tol=1e-10, max_iter=100_000, **options).fit(X, y)
        assert kernel.model_ is None and exact.model_ is not None
        np.testing.assert_allclose(kernel.coef_, exact.coef_, atol=1e-6)
        np.testing.assert_allclose(kernel.predict_proba(X), exact.predict_proba(X), atol=1e-6)
    above = InclusionClassifier(solver="kernel-newton", max_kernel_rows=4).fit(X, y)
    assert above.model_ is not None  # too many rows: liblinear fitted


def test_default_learner_solves_exactly_and_keeps_up_with_label_changes():
    assert SCREENING_CLASSIFIER.solver == "kernel-newton"
    model = learner(random_state=0, neighbour_weight=0.0)  # the model's own scores
    model.label(0, 1)
    model.label(1, 0)
    for step in [(7, 1), (6, 0), (3, 0)]:
        model.next()
        np.testing.assert_allclose(model.model_scores_, exact_scores(model), atol=1e-6)
        model.label(*step)
    model.label(6, 1)  # relabel: same rows, new target
    model.next()
    np.testing.assert_allclose(model.model_scores_, exact_scores(model), atol=1e-6)
    model.unlabel(7)  # the kept Gram matrix is rebuilt
    model.label(2, 1)
    model.next()
    np.testing.assert_allclose(model.model_scores_, exact_scores(model), atol=1e-6)
    assert model.n_labels == 5 and model.n_labels_at_fit_ == 5 and model.n_fits_ == 5
    proba = model.classifier_.predict_proba(model.X_)[:, 1]  # the fitted estimator is usable
    np.testing.assert_allclose(proba, model.model_scores_, atol=1e-6)
    assert model.top_terms(4)


def test_learner_falls_back_to_liblinear_above_the_kernel_limit():
    model = learner(
        random_state=0, classifier=InclusionClassifier(solver="kernel-newton", max_kernel_rows=3, inclusion_boost=10.0), neighbour_weight=0.0
    )
    model.label(0, 1)
    model.label(1, 0)
    model.label(2, 1)
    model.next()
    assert model._views[0].gram is not None  # kernel solver
    model.label(3, 0)
    model.next()
    assert model._views[0].gram is None  # liblinear (dual=False, tol=1e-4 here)
    np.testing.assert_allclose(model.model_scores_, exact_scores(model), atol=1e-3)
    model.unlabel(3)
    model.next()
    assert model._views[0].gram is not None
    np.testing.assert_allclose(model.model_scores_, exact_scores(model), atol=1e-6)


def test_liblinear_classifier_stays_on_the_liblinear_path():
    model = learner(random_state=0, classifier=InclusionClassifier(dual=True, tol=1e-2, inclusion_boost=10.0))
    model.label(0, 1)
    model.label(1, 0)
    model.next()
    assert model._views[0].gram is None


def test_same_seed_same_order_with_the_kernel_solver(shared_screening):
    from ldnscreen.simulate import load_labelled_records, simulate

    records = load_labelled_records(shared_screening / "cohen2006_nsaids.csv")
    first = simulate(records, seed=3, progress=False, stop=60)
    again = simulate(records, seed=3, progress=False, stop=60)
    assert first.record_ids == again.record_ids


TITLED = [
    Record(title="Low-dose naltrexone for fibromyalgia", abstract="A randomised trial of pain in women."),
    Record(title="Opioid tolerance in rats", abstract="Morphine given to rats; pain behaviour measured."),
    Record(title="Naltrexone in complex regional pain syndrome", abstract="Case series of chronic pain patients."),
    Record(title="Statins and liver enzymes", abstract="A cohort of adults followed for five years."),
    Record(title="Low-dose naltrexone pilot", abstract="Chronic pain relieved in a small open trial."),
    Record(title="Morphine in mice", abstract="Nociception in an animal model of pain."),
    Record(title="Dietary fibre and cholesterol", abstract="A trial in adults with high cholesterol."),
    Record(title="Naltrexone and Crohn disease", abstract="Trial of low-dose naltrexone, pain scores secondary."),
]


def _view_margin(X, labelled, y, **options):
    clf = InclusionClassifier(inclusion_boost=10.0, tol=1e-10, max_iter=100_000, **options).fit(X[labelled], y)
    return clf.decision_function(X)


@pytest.mark.parametrize("body_view", [0.5, 0.25, 0.0])
def test_two_views_average_the_log_odds_of_the_title_and_whole_text_models(body_view):
    from scipy.special import expit
    from sklearn.preprocessing import normalize

    model = ActiveLearner(features=TextFeatures(min_df=1), random_state=0, body_view=body_view, neighbour_weight=0.0)
    model = model.fit_features(TITLED)
    for index, y in [(0, 1), (1, 0), (3, 0), (2, 1)]:
        model.label(index, y)
    model.next()
    labelled = np.flatnonzero(model.labels_ >= 0)
    y = model.labels_[labelled]
    n_text = model.features_.n_text_features_  # its terms and its once-seen columns
    assert model.X_.shape[1] > n_text  # there is a title field
    full = _view_margin(model.X_, labelled, y)
    body = _view_margin(normalize(model.X_[:, :n_text]), labelled, y)
    expected = expit((1 - body_view) * full + body_view * body)
    np.testing.assert_allclose(model.model_scores_, expected, atol=1e-6)
    assert len(model._views) == (2 if body_view else 1)
    if body_view:  # the two views disagree here, so the blend is not either model alone
        assert np.abs(expit(full) - expected).max() > 1e-3


def test_two_views_on_the_liblinear_path_match_the_kernel_path():
    kernel = ActiveLearner(features=TextFeatures(min_df=1), random_state=0).fit_features(TITLED)
    liblinear = ActiveLearner(
        features=TextFeatures(min_df=1), random_state=0,
        classifier=InclusionClassifier(inclusion_boost=10.0, tol=1e-10, max_iter=100_000),
    ).fit_features(TITLED)
    for model in (kernel, liblinear):
        for index, y in [(0, 1), (1, 0), (3, 0), (2, 1)]:
            model.label(index, y)
        model.next()
    assert liblinear._views[1].estimator is not None  # the second view has its own clone
    np.testing.assert_allclose(kernel.model_scores_, liblinear.model_scores_, atol=1e-5)


def _with_priors() -> ActiveLearner:
    """The default learner on TITLED with its two priors labelled (record 0 included, 1 excluded)."""
    model = ActiveLearner(features=TextFeatures(min_df=1), random_state=0).fit_features(TITLED)
    model.label(0, 1)
    model.label(1, 0)
    return model


def _serial_and_threaded(monkeypatch, **learner):
    """Each retrain's scores of a learner on TITLED with the views one after the other (``False``)
    and in two threads (``True``), the two learners, and the work handed to the other thread."""
    import ldnscreen.rankers as rankers

    submitted = []
    pool = rankers._view_pool()

    class CountingPool:
        def submit(self, *args):
            submitted.append(args)
            return pool.submit(*args)

    scores, models = {}, {}
    for threads in (False, True):
        monkeypatch.setattr(rankers, "_PARALLEL_VIEWS_RECORDS", 0 if threads else math.inf)
        monkeypatch.setattr(rankers, "_spare_core", lambda: True)
        monkeypatch.setattr(rankers, "_view_pool", CountingPool if threads else None)
        model = models[threads] = ActiveLearner(features=TextFeatures(min_df=1), random_state=0, **learner).fit_features(TITLED)
        steps = []
        for index, y in [(0, 1), (1, 0), (3, 0), (2, 1), (6, 0)]:
            model.label(index, y)
            model.retrain()
            steps.append(None if model.model_scores_ is None else model.model_scores_.tolist())
        scores[threads] = steps
        monkeypatch.undo()
    return scores, models, submitted


def test_the_views_fitted_in_two_threads_give_the_same_scores_as_one_after_the_other(monkeypatch):
    scores, _, submitted = _serial_and_threaded(monkeypatch)
    assert len(submitted) == 4  # a retrain with both classes fits the body view in the other thread
    assert scores[True] == scores[False]  # bit for bit
    assert scores[True][0] is None and all(scores[True][1:])


def test_on_the_liblinear_path_the_full_views_scores_computed_in_another_thread_are_the_same(monkeypatch):
    scores, models, submitted = _serial_and_threaded(monkeypatch, classifier=InclusionClassifier(max_kernel_rows=2))
    for model in models.values():
        assert model._views[0].gram is None and model._views[1].estimator is not None  # (liblinear, both views)
    assert len(submitted) == 4  # (the first at 2 labels on the kernel path, the others on liblinear's)
    assert scores[True] == scores[False] and all(scores[True][1:])


def _forked_retrain(queue):
    import ldnscreen.rankers as rankers

    rankers._PARALLEL_VIEWS_RECORDS = 0
    rankers._spare_core = lambda: True
    model = _with_priors()
    model.retrain()
    queue.put(model.model_scores_.tolist())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_process_retrains_in_two_threads_after_its_parent_did(monkeypatch):
    import multiprocessing

    import ldnscreen.rankers as rankers

    monkeypatch.setattr(rankers, "_PARALLEL_VIEWS_RECORDS", 0)
    monkeypatch.setattr(rankers, "_spare_core", lambda: True)
    model = _with_priors()
    model.retrain()  # the parent's pool has a worker thread now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_forked_retrain, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked process hung in its retrain (the parent's pool, whose thread it does not have)")
    assert queue.get(timeout=5) == model.model_scores_.tolist()


def test_ldnscreen_threads_1_keeps_a_retrain_in_one_thread(monkeypatch):
    import ldnscreen.rankers as rankers

    monkeypatch.setattr(rankers.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.delenv("LDNSCREEN_THREADS", raising=False)
    assert rankers._spare_core()
    monkeypatch.setenv("LDNSCREEN_THREADS", "1")
    assert not rankers._spare_core()


def test_an_error_in_a_view_fit_waits_for_the_other_thread(monkeypatch):
    import threading

    import ldnscreen.rankers as rankers

    monkeypatch.setattr(rankers, "_PARALLEL_VIEWS_RECORDS", 0)
    monkeypatch.setattr(rankers, "_spare_core", lambda: True)
    model = _with_priors()
    body = model._body_view()
    original = rankers.ActiveLearner._fit_kernel
    finished = []

    def fit_kernel(self, view, targets=None):
        if view is body:
            threading.Event().wait(0.2)
            finished.append(original(self, view, targets))
            return finished[-1]
        raise RuntimeError("the full view failed")

    monkeypatch.setattr(rankers.ActiveLearner, "_fit_kernel", fit_kernel)
    with pytest.raises(RuntimeError, match="full view failed"):
        model.retrain()
    assert finished  # the body view's fit had ended before the error reached the caller


def test_no_second_view_without_a_title_field():
    model = ActiveLearner(features=TextFeatures(min_df=1, title_weight=0), random_state=0).fit_features(TITLED)
    model.label(0, 1)
    model.label(1, 0)
    model.next()
    assert len(model._views) == 1


def test_scoring_through_the_kept_kernel_rows_matches_scoring_through_the_coefficients(monkeypatch):
    import ldnscreen.rankers as rankers
    from ldnscreen.logistic import LabelledGram, ScoringGram

    def run():
        model = ActiveLearner(features=TextFeatures(min_df=1), random_state=0).fit_features(TITLED)
        steps = []
        model.label(0, 1)
        for index, y in [(1, 0), (3, 0), (2, 1), (5, 0), (4, 1)]:
            model.label(index, y)
            steps.append((model.next(n=2), model.model_scores_.copy()))
        model.unlabel(5)  # rebuilt Gram matrices
        steps.append((model.next(n=2), model.model_scores_.copy()))
        return model, steps

    scoring, scoring_steps = run()
    monkeypatch.setattr(rankers, "_SCORING_GRAM_CELLS", 0)
    plain, plain_steps = run()
    assert all(type(view.gram) is ScoringGram for view in scoring._views) and len(scoring._views) == 2
    assert all(type(view.gram) is LabelledGram for view in plain._views)
    for (picks, scores), (plain_picks, plain_scores) in zip(scoring_steps, plain_steps):
        assert picks == plain_picks
        np.testing.assert_allclose(scores, plain_scores, rtol=1e-6, atol=1e-9)  # plain scores in float32
    # coefficients stay readable: the estimator's, the learner's and (made when read) the second view's
    np.testing.assert_allclose(scoring.classifier_.coef_, plain.classifier_.coef_, atol=1e-10)
    np.testing.assert_allclose(scoring.coef_, plain.coef_, atol=1e-6)
    body = scoring._views[1]
    assert body._coef is None  # not computed until read
    np.testing.assert_allclose(body.coef, plain._views[1].coef, atol=1e-6)
    assert body.coef.dtype == body.X.dtype
    assert scoring.top_terms(4) == plain.top_terms(4)


def test_used_columns_are_scipys_column_indexing():
    from ldnscreen.rankers import _used_columns

    X = TextFeatures(min_df=1).fit_transform(DOCS)[[1, 3, 6]]
    mask = np.zeros(X.shape[1], dtype=bool)
    used, columns = _used_columns(X, mask)
    expected = X[:, np.unique(X.indices)]
    np.testing.assert_array_equal(columns, np.unique(X.indices))
    for name in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(used, name), getattr(expected, name))
    assert used.shape == expected.shape and not mask.any()


def test_liblinear_called_directly_fits_what_scikit_learn_fits():
    import scipy.sparse as sp

    from ldnscreen.rankers import _refit_liblinear, _train_liblinear

    X = TextFeatures(min_df=1).fit_transform(DOCS)
    y = np.array([1, 0, 1, 0, 1, 0, 0, 1])
    for options in ({"dual": True, "tol": 1e-2, "inclusion_boost": 10.0}, {"C": 0.3, "class_weight": None}):
        direct = InclusionClassifier(random_state=7, **options)
        wrapped = InclusionClassifier(random_state=7, **options)
        _train_liblinear(direct, X, y, [4, 4])
        _refit_liblinear(wrapped, X, y, [4, 4])
        for name in ("coef_", "intercept_", "n_iter_", "classes_"):
            np.testing.assert_array_equal(getattr(direct, name), getattr(wrapped, name))
        assert direct.coef_.shape == (1, X.shape[1]) and direct.model_ is None
    wide = sp.csr_matrix((X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64)), shape=X.shape)
    fallback = InclusionClassifier(random_state=7)
    _train_liblinear(fallback, wide, y, [4, 4])  # 64-bit indices: through scikit-learn, which copes
    np.testing.assert_allclose(fallback.coef_, InclusionClassifier(random_state=7).fit(X, y).coef_, atol=1e-8)


def test_views_are_weighted_online_by_their_log_loss_on_new_labels():
    from scipy.special import expit, logit

    model = ActiveLearner(features=TextFeatures(min_df=1), random_state=0, neighbour_weight=0.0).fit_features(TITLED)
    model.label(0, 1)
    model.label(1, 0)
    assert model.body_weight_ == 0.5  # priors: no prediction to score yet
    losses = np.zeros(2)
    for index, y in [(2, 1), (3, 0), (4, 1), (5, 0)]:
        model.next()  # retrain: both views predict every record
        full, body = model._view_margins
        sign = 1.0 if y == 1 else -1.0
        losses += [np.logaddexp(0.0, -sign * full[index]), np.logaddexp(0.0, -sign * body[index])]
        model.label(index, y)
    model.next()
    expected = 0.2 + 0.6 * expit(logit(0.5) - (losses[1] - losses[0]))  # Hedge, mixed with a fixed share
    assert model.body_weight_ == pytest.approx(expected) and model.body_weight_ != 0.5
    # the blend uses that weight
    full, body = model._view_margins
    np.testing.assert_allclose(model.model_scores_, expit((1 - expected) * full + expected * body), atol=1e-9)
    # an undone decision takes its loss back
    model.unlabel(5)
    model.label(5, 0)  # relabelled: scored again against the latest predictions
    assert len(model._view_losses) == 4
    # view_learning_rate=0: the fixed body_view
    fixed = ActiveLearner(features=TextFeatures(min_df=1), random_state=0, view_learning_rate=0).fit_features(TITLED)
    for index, y in [(0, 1), (1, 0), (2, 1), (3, 0)]:
        fixed.label(index, y)
        if index:
            fixed.next()
    assert fixed.body_weight_ == 0.5 and not fixed._view_losses


def test_kernel_fit_coefficients_are_computed_only_when_read(monkeypatch):
    from ldnscreen.logistic import ScoringGram

    products = []
    coef = ScoringGram.coef
    monkeypatch.setattr(ScoringGram, "coef", lambda gram, beta: products.append(beta.shape[0]) or coef(gram, beta))
    model = _with_priors()
    for index, y in [(3, 0), (2, 1)]:
        model.next()  # scored through the kept kernel rows: no coefficient vector needed
        model.label(index, y)
    model.next()
    assert products == [] and model.n_fits_ == 3
    labelled = np.flatnonzero(model.labels_ >= 0)
    direct = InclusionClassifier(solver="kernel-newton", inclusion_boost=10.0).fit(model.X_[labelled], model.labels_[labelled])
    np.testing.assert_allclose(model.classifier_.coef_, direct.coef_, atol=1e-8)  # the estimator's fitted state
    assert model.classifier_.intercept_ == pytest.approx(direct.intercept_, abs=1e-8)
    np.testing.assert_allclose(model.coef_, direct.coef_.ravel(), atol=1e-6)
    assert model.coef_.dtype == model.X_.dtype and products == [4]  # one product for both, made once
    model.label(5, 0)
    model.next()
    assert products == [4]  # deferred again until read
    assert model.top_terms(2) and products == [4, 5]
    model.label(4, 1)
    model.next()
    assigned = np.zeros(model.X_.shape[1], dtype=model.X_.dtype)
    model.coef_ = assigned  # an assignment (a subclass's own fit) wins over the deferred coefficients
    assert model.coef_ is assigned and products == [4, 5, 6]  # the estimator still gets its fitted state
    assert model.classifier_.coef_.shape == (1, model.X_.shape[1]) and np.abs(model.classifier_.coef_).max() > 0
    for index in (0, 2, 4):
        model.unlabel(index)
    model.retrain()  # one class left: no classifier, nothing deferred
    assert model.classifier_ is None and model.coef_ is None and model._pending_solution is None


def test_online_view_weight_starts_at_body_view_and_nears_but_never_reaches_the_bounds():
    model = ActiveLearner(features=TextFeatures(min_df=1), random_state=0, body_view=0.35).fit_features(TITLED)
    model._view_loss = np.zeros(2)
    assert model._body_weight() == pytest.approx(0.35)  # no evidence yet: the starting weight
    weights = []
    for difference in (1.0, 3.0, 10.0, 1e6):  # the body view keeps losing more
        model._view_loss = np.array([0.0, difference])
        weights.append(model._body_weight())
    assert weights == sorted(weights, reverse=True) and all(w >= 0.2 for w in weights)
    assert weights[0] > weights[1] > weights[2] > 0.2  # still moving: not clipped
    model._view_loss = np.array([10.0, 0.0])  # the full view loses: towards 0.8
    assert 0.79 < model._body_weight() < 0.8
    model.view_learning_rate = 0.0
    assert model._body_weight() == 0.35  # fixed weight


def test_online_view_weight_of_a_body_view_outside_the_bounds_starts_just_inside_them():
    model = ActiveLearner(features=TextFeatures(min_df=1), random_state=0, body_view=0.9).fit_features(TITLED)
    model._view_loss = np.zeros(2)
    assert model._body_weight() == pytest.approx(0.794)
    model.body_view = 0.05
    assert model._body_weight() == pytest.approx(0.206)


def test_body_view_matrix_is_scipys_slice_normalised_bit_for_bit():
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    from ldnscreen.rankers import _leading_columns

    rng = np.random.default_rng(6)
    X = sp.random(30, 50, density=0.2, format="csr", random_state=6, dtype=np.float32)
    X.data = rng.uniform(0.01, 1.0, X.nnz).astype(np.float32)
    X.data[::7] = 0.0  # explicit zeros stay
    X = X.tolil()
    X[4, :] = 0.0  # an empty row, and one with values beyond the leading columns only
    X[5, :20] = 0.0
    X = X.tocsr()
    shuffled = X.copy()
    for row in range(X.shape[0]):  # each row's values stored in another order
        lo, hi = shuffled.indptr[row], shuffled.indptr[row + 1]
        order = lo + rng.permutation(hi - lo)
        shuffled.indices[lo:hi], shuffled.data[lo:hi] = X.indices[order], X.data[order]
    shuffled.has_sorted_indices = False
    for matrix in (X, shuffled, X.astype(np.float64)):
        expected = normalize(matrix[:, :20])
        expected.sort_indices()
        got = _leading_columns(matrix, 20)
        assert got.shape == expected.shape and got.dtype == expected.dtype and got.has_sorted_indices
        for name in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
            assert getattr(got, name).dtype == getattr(expected, name).dtype
    assert _leading_columns(X, 20)[5].nnz == 0


def test_kernel_targets_follow_new_labels_relabels_and_unlabels():
    model = learner(random_state=0)

    def expected():
        from ldnscreen.logistic import costs_from_counts

        positive = model.labels_[model._labelled] == 1
        neg, pos = costs_from_counts(model._counts[0], model._counts[1], 1.0, "balanced", 10.0)
        return np.where(positive, 1.0, -1.0), np.where(positive, pos, neg)

    steps = [("label", 0, 1), ("label", 1, 0), ("label", 3, 0), ("label", 2, 1), ("label", 3, 1), ("unlabel", 1, None),
             ("label", 6, 0), ("label", 1, 1), ("unlabel", 0, None), ("label", 5, 0), ("label", 2, 0)]
    steps += [("label", i % 8, (i * 5) % 3 % 2) for i in range(40)] + [("unlabel", i, None) for i in (7, 0, 3)]
    for action, index, y in steps:
        model.label(index, y) if action == "label" else model.unlabel(index)
        if model._both_classes():
            s, cost = model._kernel_targets()
            s_expected, cost_expected = expected()
            np.testing.assert_array_equal(s, s_expected)
            np.testing.assert_array_equal(cost, cost_expected)


def test_kernel_targets_of_more_labels_than_first_kept():
    import scipy.sparse as sp

    X = sp.random(150, 40, density=0.3, format="csr", random_state=7, dtype=np.float32)
    model = ActiveLearner(random_state=0).set_matrix(X)
    for index in range(130):  # past the first capacity of the kept signs
        model.label(index, int(index % 9 == 0))
    model.unlabel(3)
    s, _ = model._kernel_targets()
    np.testing.assert_array_equal(s, np.where(model.labels_[model._labelled] == 1, 1.0, -1.0))
    assert s.shape == (129,)


def _nearest_inclusion_similarity(X, included, k=3) -> np.ndarray:
    """Brute force: each record's mean of its k largest cosine similarities to ``included`` (0 for missing ones)."""
    X = X.astype(np.float64)
    similarities = (X @ X[included].T).toarray()
    padded = np.hstack([np.zeros((X.shape[0], k)), similarities])
    return np.sort(padded, axis=1)[:, -k:].mean(axis=1)


def _bonus_scores(margin, similarity, labels, weight) -> np.ndarray:
    from scipy.special import expit

    pool = labels < 0
    z = (similarity - similarity[pool].mean()) / similarity[pool].std()
    return expit(margin + weight * margin[pool].std() * z)


@pytest.mark.parametrize("scoring_gram", [True, False])
def test_nearest_inclusions_raise_records_close_to_a_few_inclusions(monkeypatch, scoring_gram):
    from scipy.special import logit

    import ldnscreen.rankers as rankers

    if not scoring_gram:  # the fallback: similarities by a sparse product, not the kept kernel rows
        monkeypatch.setattr(rankers, "_SCORING_GRAM_CELLS", 0)
    steps = [(0, 1), (1, 0), (3, 0), (2, 1), (5, 0), (4, 1)]  # (two records left unscreened)
    plain = ActiveLearner(features=TextFeatures(min_df=1), random_state=0, neighbour_weight=0.0).fit_features(TITLED)
    model = ActiveLearner(features=TextFeatures(min_df=1), random_state=0).fit_features(TITLED)
    assert model.neighbour_weight == 0.25 and model.neighbour_k == 3  # on by default
    for step, (index, y) in enumerate(steps):
        for learner_ in (plain, model):
            learner_.label(index, y)
            learner_.next()
        if step < 1:
            continue
        assert isinstance(model._views[0].gram, rankers.ScoringGram) == scoring_gram
        included = [i for i, label in steps[: step + 1] if label == 1]
        similarity = _nearest_inclusion_similarity(model.X_, included)
        expected = _bonus_scores(logit(plain.model_scores_), similarity, model.labels_, 0.25)
        np.testing.assert_allclose(model.model_scores_, expected, rtol=1e-6)
    # the bonus moved the ranking: not the model's order any more
    assert not np.allclose(model.model_scores_, plain.model_scores_)


def test_nearest_inclusions_follow_undone_and_changed_decisions():
    from scipy.special import logit

    plain = ActiveLearner(features=TextFeatures(min_df=1), random_state=0, neighbour_weight=0.0).fit_features(TITLED)
    model = ActiveLearner(features=TextFeatures(min_df=1), random_state=0, neighbour_k=2).fit_features(TITLED)
    for learner_ in (plain, model):
        for index, y in [(0, 1), (1, 0), (2, 1), (4, 1), (3, 0)]:
            learner_.label(index, y)
        learner_.next()
        learner_.unlabel(2)  # an undone inclusion no longer counts
        learner_.next()
    similarity = _nearest_inclusion_similarity(model.X_, [0, 4], k=2)
    expected = _bonus_scores(logit(plain.model_scores_), similarity, model.labels_, 0.25)
    np.testing.assert_allclose(model.model_scores_, expected, rtol=1e-6)
    for learner_ in (plain, model):
        learner_.label(4, 0)  # an inclusion changed to an exclusion neither
        learner_.label(7, 1)
        learner_.next()
    similarity = _nearest_inclusion_similarity(model.X_, [0, 7], k=2)
    expected = _bonus_scores(logit(plain.model_scores_), similarity, model.labels_, 0.25)
    np.testing.assert_allclose(model.model_scores_, expected, rtol=1e-6)
    # an exclusion changed to an inclusion counts from then on
    for learner_ in (plain, model):
        learner_.label(3, 1)
        learner_.next()
    similarity = _nearest_inclusion_similarity(model.X_, [0, 7, 3], k=2)
    expected = _bonus_scores(logit(plain.model_scores_), similarity, model.labels_, 0.25)
    np.testing.assert_allclose(model.model_scores_, expected, rtol=1e-6)
    # an undone exclusion keeps the similarities (nothing recomputed), and later inclusions still merge
    kept = model._neighbours
    for learner_ in (plain, model):
        learner_.unlabel(1)
        learner_.label(5, 1)  # (before the next fit: the merged count must follow the undo)
        learner_.next()
    assert model._neighbours is kept
    similarity = _nearest_inclusion_similarity(model.X_, [0, 7, 3, 5], k=2)
    expected = _bonus_scores(logit(plain.model_scores_), similarity, model.labels_, 0.25)
    np.testing.assert_allclose(model.model_scores_, expected, rtol=1e-6)


def test_without_a_spread_in_similarity_the_model_alone_scores():
    plain = ActiveLearner(features=TextFeatures(min_df=1), random_state=0, neighbour_weight=0.0).fit_features(TITLED)
    model = ActiveLearner(features=TextFeatures(min_df=1), random_state=0, neighbour_k=1).fit_features(TITLED)
    for learner_ in (plain, model):
        learner_.label(1, 0)
        learner_.label(3, 0)
        learner_.next()  # one class only: no model, no inclusion to be near
    np.testing.assert_array_equal(model.scores(), plain.scores())


@pytest.mark.parametrize(
    "options, message",
    [
        ({"neighbour_k": 0}, "neighbour_k must be a whole number of 1 or more, got 0"),
        ({"neighbour_k": 2.5}, "neighbour_k must be a whole number of 1 or more, got 2.5"),
        ({"neighbour_weight": -0.1}, "neighbour_weight must be a number of 0 or more, got -0.1"),
        ({"neighbour_weight": float("nan")}, "neighbour_weight must be a number of 0 or more, got nan"),
    ],
)
def test_nearest_inclusion_settings_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        ActiveLearner(features=TextFeatures(min_df=1), **options).fit_features(TITLED)


def test_similarities_of_many_inclusions_at_once_equal_one_at_a_time(monkeypatch):
    import scipy.sparse as sp

    import ldnscreen.rankers as rankers

    rng = np.random.default_rng(5)
    X = sp.random(300, 2000, density=0.02, format="csr", dtype=np.float32, random_state=rng)
    X.data = rng.uniform(0.01, 1.0, X.nnz).astype(np.float32)
    rows = [3, 17, 17, 250, 299, 0]  # (a repeated row, and the first and last)
    alone = [rankers._similarities(X, [row])[0] for row in rows]
    together = rankers._similarities(X, rows)
    assert all(a.dtype == b.dtype == np.float64 for a, b in zip(alone, together))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)  # the same sums in the same order: equal to the last bit
    np.testing.assert_allclose(together[0], (X @ X[3].T).toarray().ravel(), rtol=1e-6)


def test_a_reopened_review_merges_its_inclusions_in_blocks_to_the_same_similarities(monkeypatch):
    import ldnscreen.rankers as rankers

    monkeypatch.setattr(rankers, "_SCORING_GRAM_CELLS", 0)  # a large review: no kept kernel rows
    monkeypatch.setattr(rankers, "_SIMILARITY_BLOCK", 2)  # blocks of 2, 2 and 1 inclusions
    steps = [(0, 1), (1, 0), (2, 1), (4, 1), (3, 0), (5, 1), (6, 1)]
    one_by_one = ActiveLearner(features=TextFeatures(min_df=1), random_state=0).fit_features(TITLED)
    for index, y in steps:
        one_by_one.label(index, y)
        one_by_one.next()
    reopened = ActiveLearner(features=TextFeatures(min_df=1), random_state=0).fit_features(TITLED)
    for index, y in steps:  # all decisions first, as when a review is opened again
        reopened.label(index, y)
    reopened.next()
    np.testing.assert_array_equal(reopened._neighbours, one_by_one._neighbours)
    expected = _nearest_inclusion_similarity(reopened.X_, [0, 2, 4, 5, 6])
    np.testing.assert_allclose(reopened._neighbour_mean, expected, rtol=1e-6)
