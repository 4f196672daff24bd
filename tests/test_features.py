"""Tests of ldnscreen.features: the TF-IDF transformer and safe matrix persistence."""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from ldnscreen.features import TextFeatures, load_matrix, save_matrix
from ldnscreen.records import Record

DOCS = [
    Record(title="Low-dose naltrexone for fibromyalgia", abstract="A pilot trial of low-dose naltrexone in women."),
    Record(title="Naltrexone in rats", abstract="Opioid antagonist given to rats with neuropathic pain."),
    Record(title="Low-dose naltrexone for CRPS", abstract="Case series of complex regional pain syndrome."),
    Record(title="Opioids in rats", abstract="Morphine tolerance in rats.", keywords=("opioid", "tolerance")),
]


def test_output_is_normalised_float32_csr():
    X = TextFeatures(min_df=1).fit_transform(DOCS)
    assert sp.issparse(X) and X.format == "csr" and X.dtype == np.float32
    assert X.shape[0] == len(DOCS)
    np.testing.assert_allclose(sp.linalg.norm(X, axis=1), 1.0, rtol=1e-5)


def test_records_and_strings_give_the_same_features():
    texts = [f"{r.title}\n{r.abstract}" + (f"\n{'; '.join(r.keywords)}" if r.keywords else "") for r in DOCS]
    features = TextFeatures(min_df=1).fit(DOCS)
    assert abs(features.transform(DOCS) - features.transform(texts)).max() < 1e-6


def test_bigrams_keywords_and_title_field_are_features():
    names = set(TextFeatures(min_df=1).fit(DOCS).get_feature_names_out())
    assert {"low dose", "tolerance", "title:naltrexone"} <= names
    assert not any(n.startswith("title:") for n in TextFeatures(min_df=1, title_weight=0).fit(DOCS).get_feature_names_out())


def test_title_weight_makes_title_words_count_more():
    docs = ["naltrexone\nrats rats", "rats\nnaltrexone naltrexone"]
    for weight, expected in [(0.0, False), (2.0, True)]:
        features = TextFeatures(min_df=1, max_df=1.0, title_weight=weight).fit(docs)
        similarity = (features.transform(docs) @ features.transform(["naltrexone"]).T).toarray().ravel()
        assert bool(similarity[0] > similarity[1]) is expected


def test_min_df_falls_back_when_nothing_would_remain():
    X = TextFeatures(min_df=2).fit_transform(["alpha beta", "gamma delta"])
    assert X.shape == (2, X.shape[1]) and X.nnz > 0


def test_set_params_reaches_the_vectorizer():
    features = TextFeatures(min_df=1)
    small = features.fit(DOCS).n_features_out_
    features.set_params(ngram_range=(1, 1))
    assert features.fit(DOCS).n_features_out_ < small
    assert clone(features).get_params()["ngram_range"] == (1, 1)


def test_not_fitted_and_single_string_errors():
    with pytest.raises(NotFittedError):
        TextFeatures().transform(DOCS)
    with pytest.raises(ValueError, match="single"):
        TextFeatures().fit("just one string")


@pytest.mark.parametrize(
    "check",
    [
        check_no_attributes_set_in_init,
        check_get_params_invariance,
        check_set_params,
        check_parameters_default_constructible,
        check_estimator_cloneable,
        check_do_not_raise_errors_in_init_or_set_params,
    ],
)
def test_sklearn_contract_checks(check):
    # the full parametrize_with_checks suite feeds numeric 2-d arrays, which a
    # text transformer does not take (sklearn skips it by its input tags); the
    # parameter-handling checks apply and must pass
    check("TextFeatures", TextFeatures())


def test_feature_state_round_trips_without_pickle():
    features = TextFeatures(min_df=1).fit(DOCS)
    data = features.to_bytes()
    assert b"pickle" not in data
    restored = TextFeatures.from_bytes(data)
    assert restored.get_params() == features.get_params()
    assert abs(restored.transform(DOCS) - features.transform(DOCS)).max() < 1e-6
    with pytest.raises(ValueError, match="not an ldnscreen"):
        TextFeatures.from_bytes(b"garbage")


def test_save_and_load_matrix_round_trip():
    X = TextFeatures(min_df=1).fit_transform(DOCS)
    Y = load_matrix(save_matrix(X))
    assert Y.format == "csr" and Y.dtype == np.float32 and (Y != X).nnz == 0


def test_load_matrix_refuses_pickles():
    buffer = io.BytesIO()
    # an .npz whose arrays need unpickling: object arrays
    np.savez(buffer, format=np.array("csr"), shape=np.array([1, 1]), data=np.array([{"evil": 1}], dtype=object),
             indices=np.array([0]), indptr=np.array([0, 1]))
    with pytest.raises(ValueError, match="pickles are refused"):
        load_matrix(buffer.getvalue())
    with pytest.raises(ValueError):
        load_matrix(b"not a zip file")


def test_fit_transform_equals_fit_then_transform():
    a = TextFeatures(min_df=1).fit_transform(DOCS)
    b = TextFeatures(min_df=1).fit(DOCS).transform(DOCS)
    assert a.format == b.format == "csr" and abs(a - b).max() < 1e-6
