"""Tests of ldnscreen.features: the TF-IDF transformer and safe matrix persistence."""

from __future__ import annotations

import importlib.util
import io
import os
from pathlib import Path
from unittest import mock

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

from ldnscreen import features
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
    names = set(TextFeatures(min_df=1, once_terms="keep").fit(DOCS).get_feature_names_out())
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
    for params in ({"min_df": 1, "once_terms": "keep"}, {"min_df": 2}):
        a = TextFeatures(**params).fit_transform(DOCS)
        b = TextFeatures(**params).fit(DOCS).transform(DOCS)
        assert a.format == b.format == "csr" and a.shape == b.shape and abs(a - b).max() < 1e-6


# ---------------------------------------------------------------- once-seen terms collapsed per record

ONCE_DOCS = DOCS + [
    Record(title="Naltrexone low dose and pain", abstract="Women with fibromyalgia took naltrexone; pain fell."),
    Record(title="Rats given opioids", abstract="Tolerance to morphine in rats; naltrexone reversed it."),
    Record(title="", abstract="Nothing of this text is seen twice: zebra quokka."),
    Record(title="Pain", abstract=""),
]


@pytest.mark.parametrize(
    "params",
    [{}, {"sublinear_tf": False}, {"title_weight": 0}, {"ngram_range": (1, 3)}, {"stop_words": "english"}, {"dtype": np.float64}],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "defaults",
)
def test_collapsed_once_terms_keep_every_dot_product(params):
    # the kernel X X^T (what an L2-penalised linear model sees) is that of min_df=1 with every term kept
    kept = TextFeatures(min_df=1, once_terms="keep", **params)
    collapsed = TextFeatures(min_df=1, **params)
    K, C = kept.fit_transform(ONCE_DOCS), collapsed.fit_transform(ONCE_DOCS)
    np.testing.assert_allclose((C @ C.T).toarray(), (K @ K.T).toarray(), atol=1e-6)
    assert C.nnz < K.nnz and C.has_sorted_indices
    # each field's terms of one record left the vocabulary for one column per record
    n_text = len(collapsed.text_vectorizer_.vocabulary_)
    assert n_text < len(kept.text_vectorizer_.vocabulary_)
    assert "zebra" in kept.text_vectorizer_.vocabulary_ and "zebra" not in collapsed.text_vectorizer_.vocabulary_
    assert collapsed.n_text_features_ == n_text + len(ONCE_DOCS)
    assert C.shape[1] == collapsed.n_features_out_ == len(collapsed.get_feature_names_out())
    once = C[:, n_text : collapsed.n_text_features_].toarray()
    assert np.count_nonzero(once - np.diag(np.diag(once))) == 0 and once[6, 6] > 0  # on the diagonal only


def test_collapsed_once_terms_rank_like_kept_terms():
    from ldnscreen.rankers import InclusionClassifier

    y = np.array([1, 0, 1, 0, 1, 0, 0, 1])
    scores = []
    for once_terms in ("keep", "collapse"):
        X = TextFeatures(min_df=1, once_terms=once_terms).fit_transform(ONCE_DOCS)
        scores.append(InclusionClassifier(solver="kernel-newton").fit(X, y).decision_function(X))
    np.testing.assert_allclose(scores[0], scores[1], atol=1e-5)


def test_collapsed_once_columns_in_transform_persistence_and_names():
    features = TextFeatures(min_df=1)
    X = features.fit_transform(ONCE_DOCS)
    names = features.get_feature_names_out()
    assert names[features.n_text_features_ - 1] == f"(terms only in record {len(ONCE_DOCS) - 1})"
    assert names[-1] == f"title:(terms only in record {len(ONCE_DOCS) - 1})"
    # later records: zeros in the once-seen columns, the width of the fitted matrix
    new = features.transform(["zebra naltrexone pain", "unseen words"])
    assert new.shape == (2, X.shape[1])
    assert new[:, len(features.text_vectorizer_.vocabulary_) : features.n_text_features_].nnz == 0
    restored = TextFeatures.from_bytes(features.to_bytes())
    assert restored.n_features_out_ == features.n_features_out_ and restored.n_text_features_ == features.n_text_features_
    assert abs(restored.transform(ONCE_DOCS) - features.transform(ONCE_DOCS)).max() < 1e-6
    assert list(restored.get_feature_names_out()) == list(names)
    # a transform of the fitted records normalises without the once-seen terms (documented)
    assert abs(features.transform(ONCE_DOCS) - X).max() > 1e-3


def test_collapse_needs_terms_of_several_records():
    # nothing is in two records: the terms stay ordinary columns
    features = TextFeatures(min_df=1, max_df=1.0, title_weight=0)
    X = features.fit_transform(["alpha beta", "gamma delta"])
    assert X.shape[1] == len(features.text_vectorizer_.vocabulary_) == features.n_text_features_
    # min_df above 1 or max_features: nothing to collapse
    for params in ({"min_df": 2}, {"min_df": 1, "max_features": 5}):
        features = TextFeatures(**params)
        assert features.fit_transform(ONCE_DOCS).shape[1] == sum(
            len(v.vocabulary_) for v in (features.text_vectorizer_, features.title_vectorizer_)
        )
    with pytest.raises(ValueError, match="once_terms"):
        TextFeatures(once_terms="drop").fit(ONCE_DOCS)


# ---------------------------------------------------------------- same output as scikit-learn's TfidfVectorizer
# TextFeatures computes TF-IDF with its own vectorised code; the reference is the
# previous implementation, two plain sklearn TfidfVectorizer fields, kept in
# benchmarks/feature_speed.py (SklearnTextFeatures).

ROOT = Path(__file__).resolve().parents[1]


def _reference_class():
    spec = importlib.util.spec_from_file_location("feature_speed", ROOT / "benchmarks" / "feature_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SklearnTextFeatures


SklearnTextFeatures = _reference_class()

TRICKY = [
    "",
    "   \n\t  ",
    "pain",
    "pain pain pain pain",
    "a b c d 1 2 _ x",
    "Low-dose naltrexone (LDN) 4.5 mg/day for CRPS; low-dose naltrexone again.",
    "Café naïve coöperate résumé ÉTUDE\nÜber straße",
    "ΟΔΟΣ ΟΔΟΣ σοφίας Σ ΑΣ",  # Greek capital sigma lower-cases to a final sigma at word ends
    "İstanbul DİYARBAKIR ﬁnal ﬂuoxetine",  # dotted capital I, ligatures
    "Kelvin \u212a sign \u210c x２ １２３ ½ ²³ snake_case __init__ a_b",
    "e\u0301e\u0301 cafe\u0301s combining\u0300 marks",
    "\u0100\u0100 Ā ā ĀB \u0100x separator-like letters",
    "中文 文本 测试 日本語のテキスト 한국어 텍스트",
    "tab\tseparated\x00nul\x00chars and\u00a0no-break\u2003em space\u200bzero width",
    "pain\nPAIN\rPain\x0bpain\x0cpain\x1cpain\x85pain\u2028pain",
    "numbers 1990 2,000 3.5 10mg 10-mg 1e5 covid-19 COVID19",
    "repeated bigram repeated bigram repeated bigram",
    "the and of to in is",  # English stop words only
    "x" * 300 + " long " + "y" * 300,
    "Low-dose naltrexone for fibromyalgia\nA pilot trial of low-dose naltrexone in women.",
    "Naltrexone in rats\nOpioid antagonist given to rats with neuropathic pain.",
    "Opioids in rats\nMorphine tolerance in rats.\nopioid; tolerance",
]

NEW_TEXTS = [
    "low unknownword dose naltrexone",  # an unknown word breaks the bigram "low dose"
    "",
    "pain pain rats",
    "ΟΔΟΣ café straße İstanbul",
    "the low the dose",  # stop words are removed before bigrams are formed
    "completely unseen vocabulary here",
]


def _assert_same(params: dict, docs, new_docs=None, thorough=True):
    params = {"once_terms": "keep", **params}  # term for term, as scikit-learn (the collapse is tested below)
    new, old = TextFeatures(**params), SklearnTextFeatures(**params)
    try:
        expected = old.fit_transform(docs)
    except ValueError as exc:
        with pytest.raises(ValueError, match=str(exc).split(";")[0][:30]):
            new.fit_transform(docs)
        return
    got = new.fit_transform(docs)
    assert list(new.get_feature_names_out()) == list(old.get_feature_names_out())
    for field in ("text_vectorizer_", "title_vectorizer_"):
        a, b = getattr(new, field), getattr(old, field)
        assert (a is None) == (b is None), field
        if a is not None:
            assert a.vocabulary_ == b.vocabulary_
            assert a.idf_.dtype == b.idf_.dtype and np.array_equal(a.idf_, b.idf_)
    assert got.format == expected.format == "csr" and got.dtype == expected.dtype and got.shape == expected.shape
    assert got.has_sorted_indices and np.array_equal(got.indptr, expected.indptr)
    assert np.array_equal(got.indices, expected.indices)
    np.testing.assert_allclose(got.data, expected.data, rtol=0, atol=1e-6)
    if thorough:
        assert abs(new.fit(docs).transform(docs) - expected).max() <= 1e-6
    for texts in (new_docs or NEW_TEXTS, docs) if thorough else (new_docs,):
        reference = old.transform(texts)
        assert abs(new.transform(texts) - reference).max() <= 1e-6
        with mock.patch.object(features, "_SMALL_TRANSFORM", 0):  # the vectorised path, even for a few texts
            assert abs(TextFeatures.from_bytes(new.to_bytes()).transform(texts) - reference).max() <= 1e-6
            assert abs(TextFeatures.from_bytes(old.to_bytes()).transform(texts) - reference).max() <= 1e-6
        # a vocabulary cached by the previous implementation loads and gives the same matrix
        assert abs(TextFeatures.from_bytes(old.to_bytes()).transform(texts) - reference).max() <= 1e-6
        assert abs(TextFeatures.from_bytes(new.to_bytes()).transform(texts) - reference).max() <= 1e-6


PARAMS = [
    {},
    {"min_df": 1},
    {"min_df": 1, "max_df": 1.0, "title_weight": 0},
    {"min_df": 1, "ngram_range": (1, 1)},
    {"min_df": 1, "ngram_range": (1, 3), "sublinear_tf": False},
    {"min_df": 1, "ngram_range": (2, 2)},
    {"min_df": 1, "ngram_range": (2, 3), "stop_words": "english"},
    {"min_df": 2, "stop_words": "english"},
    {"min_df": 0.0, "max_df": 1.0},
    {"min_df": 0.1, "max_df": 0.5},
    {"min_df": 3, "max_df": 2},  # integer max_df below min_df: falls back to min_df=1
    {"min_df": 50},  # nothing would remain: falls back to min_df=1
    {"min_df": 1, "max_features": 7},
    {"min_df": 1, "max_features": 40, "ngram_range": (1, 3)},
    {"min_df": 1, "max_features": 1000},
    {"min_df": 1, "dtype": np.float64, "title_weight": 2.0},
]


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "defaults")
def test_same_as_sklearn_on_tricky_texts(params):
    _assert_same(params, TRICKY)


@pytest.mark.parametrize("seed", range(12))
def test_same_as_sklearn_on_random_parameters_and_texts(seed):
    rng = np.random.default_rng(seed)
    words = ["pain", "dose", "ldn", "naltrexone", "the", "of", "crps", "rats", "é", "naïve", "ΣΑΣ", "x", "10", "mg", "a_b"]
    docs = [
        "\n".join(" ".join(rng.choice(words, size=rng.integers(0, 12))) for _ in range(rng.integers(1, 3)))
        for _ in range(int(rng.integers(2, 30)))
    ]
    params = {
        "ngram_range": [(1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3)][rng.integers(6)],
        "min_df": [1, 2, 3, 0.0, 0.2, 1.0][rng.integers(6)],
        "max_df": [0.95, 1.0, 0.5, 1, 4][rng.integers(5)],
        "sublinear_tf": bool(rng.integers(2)),
        "stop_words": [None, "english"][rng.integers(2)],
        "title_weight": [0, 0.5, 1.5][rng.integers(3)],
        "max_features": [None, 1, 3, 10][rng.integers(4)],
        "dtype": [np.float32, np.float64][rng.integers(2)],
    }
    _assert_same(params, docs, new_docs=docs[::-1] + NEW_TEXTS)


def test_same_as_sklearn_when_work_is_split_in_pieces(monkeypatch):
    # big corpora are tokenised in chunks of documents and assembled a few rows at a time
    monkeypatch.setattr(features, "_CHUNK", 3)
    monkeypatch.setattr(features, "_PIECE", 7)
    for params in ({"min_df": 1}, {"min_df": 1, "ngram_range": (1, 3), "max_features": 30}, {"stop_words": "english"}):
        _assert_same(params, TRICKY)


def test_max_features_ties_are_broken_like_sklearn():
    # 60 terms with equal total counts: which 10 are kept depends on sklearn's argsort of the name-sorted terms
    docs = [" ".join(f"term{i:02d}" for i in range(j, j + 30)) for j in range(0, 60, 30)] * 2
    for limit in (1, 10, 33, 59):
        _assert_same({"min_df": 1, "max_df": 1.0, "max_features": limit, "ngram_range": (1, 1)}, docs)
        _assert_same({"min_df": 1, "max_features": limit}, docs + ["term01 term02 term03", "term07"])


def test_empty_vocabulary_errors_like_sklearn():
    for params in ({"stop_words": "english"}, {"ngram_range": (2, 2)}):
        with pytest.raises(ValueError, match="empty vocabulary"):
            TextFeatures(min_df=1, **params).fit(["the", "a", "and of"] if params.get("stop_words") else ["the", "a b", "and"])
        with pytest.raises(ValueError, match="empty vocabulary"):
            SklearnTextFeatures(min_df=1, **params).fit(["the", "a", "and of"] if params.get("stop_words") else ["the", "a b", "and"])
    # titles of stop words only: no title field, like the previous implementation
    _assert_same({"min_df": 1, "stop_words": "english"}, ["the\nnaltrexone pain", "of\nnaltrexone rats"])


def test_feature_names_are_cached_and_not_shared():
    features = TextFeatures(min_df=1).fit(DOCS)
    names = features.get_feature_names_out()
    names[0] = "changed"
    assert features.get_feature_names_out()[0] != "changed"
    assert features.text_vectorizer_.get_feature_names_out().tolist() == sorted(features.text_vectorizer_.vocabulary_)


def _shared_datasets():
    folder = Path(os.environ.get("LDNSCREEN_SHARED", ROOT.parent / "shared")) / "corpora" / "screening"
    return sorted(p for p in folder.glob("*.csv") if p.name != "MANIFEST.csv") if folder.is_dir() else []


@pytest.mark.parametrize("path", _shared_datasets() or [None], ids=lambda p: p.stem if p else "absent")
def test_same_as_sklearn_on_shared_datasets(path):
    if path is None:
        pytest.skip("../shared/corpora/screening is not available")
    from ldnscreen.simulate import load_labelled_records

    records = load_labelled_records(path)
    new_records = records[: len(records) // 10]
    fit_records = records[len(records) // 10 :]
    _assert_same({}, fit_records, new_docs=new_records, thorough=False)


def test_top_terms_name_a_records_own_rare_words():
    from ldnscreen.rankers import ActiveLearner

    docs = ["low dose naltrexone fibromyalgia zebra", "low dose naltrexone pain", "rats morphine liver",
            "rats morphine kidney", "naltrexone pain trial", "rats liver enzymes"]
    learner = ActiveLearner(features=TextFeatures(min_df=1, title_weight=0), random_state=0).fit_features(docs)
    learner.label(0, 1)
    learner.label(2, 0)
    terms = dict(learner.top_terms(0, k=10))
    assert terms.get("(words found in no other record)", 0) > 0  # "fibromyalgia zebra", in record 0 only
    assert "zebra" not in terms


# ---------------------------------------------------------------- one tokenisation for both fields, terms named when read
PART_RECORDS = [
    Record(title="Low-dose naltrexone (LDN) for CRPS", abstract="A pilot trial.", keywords=("pain", "LDN")),
    Record(title="Zebra pilot", abstract="zebra"),  # "pilot" is in an earlier abstract: ids renumbered for titles
    Record(title="Café naïve ÉTUDE", abstract="plain ascii abstract"),  # non-ASCII title, ASCII rest
    Record(title="Plain ascii title", abstract="Über straße ΟΔΟΣ ΑΣ"),  # ASCII title, non-ASCII rest
    Record(title="ΟΔΟΣ", abstract="σοφίας"),  # a final sigma at the end of the title
    Record(title="ΟΔΟΣ.", abstract="Σ"),  # ... before a case-ignorable character
    Record(title="", abstract="No title at all, only an abstract", keywords=("kw",)),
    Record(title="the and of", abstract="stop words only in the title"),
    Record(title="a b c", abstract="one-character pieces only"),
    Record(title="e\u0301e\u0301 cafe\u0301", abstract="\u0301combining mark first"),
    Record(title="Title on\ntwo lines", abstract="and an abstract"),
    Record(title="\u212a \u210c x\uff12", abstract="", keywords=("only", "keywords")),
    Record(title=""),
    "String title\nstring body\nwith lines",
    "String without a line break",
    "",
    "\nbody after an empty title",
]


def _level_arrays(counts):
    return {n: [getattr(level, name) for name in ("code", "df", "doc", "count", "start")] for n, level in counts.levels.items()}


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (1, 3), (2, 2)])
@pytest.mark.parametrize("stop_words", [None, "english"])
def test_full_texts_tokenised_once_give_both_fields_exactly(ngram_range, stop_words):
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    texts, titles = features.record_texts(PART_RECORDS)
    part_titles, rests = features._text_parts(PART_RECORDS)
    assert part_titles == titles
    for item, text, title, rest in zip(PART_RECORDS, texts, titles, rests):  # a full text is title, line break, rest
        assert text == (item if isinstance(item, str) else "\n".join(p for p in (title, rest) if p))
        assert not isinstance(item, str) or text == (f"{title}\n{rest}" if "\n" in text else title)
    words = ENGLISH_STOP_WORDS if stop_words else None
    shared_text, shared_title = features._GramCounts.of_parts(titles, rests, ngram_range, words, True)
    for shared, alone in ((shared_text, features._GramCounts(texts, ngram_range, words, True)),
                          (shared_title, features._GramCounts(titles, ngram_range, words, True))):
        assert shared.tokens == alone.tokens  # the same ids, in order of first appearance
        assert shared.n_docs == alone.n_docs == len(PART_RECORDS)
        got, expected = _level_arrays(shared), _level_arrays(alone)
        assert got.keys() == expected.keys()
        for n in expected:
            for a, b in zip(got[n], expected[n]):
                np.testing.assert_array_equal(a, b)


def test_fit_transform_tokenises_each_record_once(monkeypatch):
    calls = []
    tokenise = features._tokenise
    monkeypatch.setattr(features, "_tokenise", lambda docs, *args: calls.append(len(docs)) or tokenise(docs, *args))
    TextFeatures().fit_transform(PART_RECORDS)
    assert calls == [2 * len(PART_RECORDS)]  # title and rest of each record, once
    calls.clear()
    TextFeatures(title_weight=0).fit_transform(PART_RECORDS)
    assert calls == [len(PART_RECORDS)]


@pytest.mark.parametrize("params", [{}, {"stop_words": "english"}, {"ngram_range": (1, 3), "max_features": 25}])
def test_records_split_in_title_and_rest_give_the_same_features_as_sklearn(params):
    _assert_same({"min_df": 1, **params}, PART_RECORDS, new_docs=PART_RECORDS[::-1] + NEW_TEXTS)
    _assert_same(params, PART_RECORDS)


PREFIX_DOCS = ["pain relief painful pain", "pain_ pain0 pain relief painful", "painful pain pain0",
               "über uber ü_ber uber ü", "ab a_b ab_ ab0 abc ab c ab", "z9 z z_ z9 z"]


def test_terms_are_named_when_the_vocabulary_is_first_read():
    import pickle

    features_ = TextFeatures(min_df=1, ngram_range=(1, 3))
    X = features_.fit_transform(PREFIX_DOCS)
    vectorizer = features_.text_vectorizer_
    assert "vocabulary_" not in vars(vectorizer)  # a simulation never needs the names
    restored = pickle.loads(pickle.dumps(features_))
    vocabulary = vectorizer.vocabulary_
    assert "vocabulary_" in vars(vectorizer) and vectorizer.vocabulary_ is vocabulary
    # names whose tokens are prefixes of others ("pain", "pain relief", "painful", "pain0", "pain_")
    assert list(vocabulary) == sorted(vocabulary) and list(vocabulary.values()) == list(range(len(vocabulary)))
    assert restored.text_vectorizer_.vocabulary_ == vocabulary
    assert abs(restored.transform(PREFIX_DOCS) - features_.transform(PREFIX_DOCS)).max() == 0
    _assert_same({"min_df": 1, "ngram_range": (1, 3)}, PREFIX_DOCS)
    assert X.shape[1] == features_.n_features_out_
    vectorizer.vocabulary_ = {"pain": 0}  # set like scikit-learn's own fit does
    assert vectorizer.vocabulary_ == {"pain": 0}
    with pytest.raises(AttributeError):
        features._Tfidf().vocabulary_


# ------------------------------------------------------------ the vectorised counting, piece by piece
PIECE_TEXTS = [
    b"",
    b"   ",
    b" pain  naltrexone a pain ",
    b"ab\tcd\nef\x0bgh\x0cij\rkl  ab",
    "na\u00efve caf\u00e9 r\u00e9sum\u00e9 \u6771\u4eac x \u0149 stra\u00dfe".encode(),
    b"abcdefgh abcdefghi abcdefgh abcdefghi " * 3 + b"x" * 600 + b" " + b"x" * 600,
    features._JOIN.join(features._pieces(["Low-dose naltrexone (LDN)", "", "a the of pain", "Na\u00efve \u00dcnic\u00f6de"], True)),
]


def _piece_path(monkeypatch, path):
    """Make :func:`features._piece_ids` take one of its paths: the compiled token table, the compiled
    split with dictionary lookups, Arrow's split, or bytes.split."""
    if path in ("table", "split") and features._kernels is None:
        pytest.skip("ldnscreen._kernels was not compiled")
    if path != "table":
        monkeypatch.setattr(features._GrowingTokenIds, "compiled_ids", lambda self, text: None)
    if path in ("arrow", "plain"):
        monkeypatch.setattr(features, "_kernels", None)
    if path == "plain":
        monkeypatch.setattr(features, "_arrow", lambda: None)


PIECE_PATHS = ["table", "split", "arrow", "plain"]


@pytest.mark.parametrize("path", PIECE_PATHS)
def test_piece_ids_are_the_lookups_of_the_split_pieces(monkeypatch, path):
    _piece_path(monkeypatch, path)
    growing, one_by_one = features._GrowingTokenIds(["the", "of"]), features._GrowingTokenIds(["the", "of"])
    for text in PIECE_TEXTS:
        expected = [one_by_one[piece] for piece in text.split()]
        assert features._piece_ids(text, growing).tolist() == expected
    # new tokens numbered in order of first appearance, over all texts, as looked up one by one
    assert growing.tokens == one_by_one.tokens
    assert (growing.table is not None) if path == "table" else dict(growing) == dict(one_by_one)
    known = features._TokenIds(["the"])
    known.update({b"pain": 0, b"naltrexone": 1})
    for text in PIECE_TEXTS:
        assert features._piece_ids(text, known).tolist() == [known[piece] for piece in text.split()]
    assert set(known) == {features._SEPARATOR, b"pain", b"naltrexone"}  # unknown pieces are not learnt


def test_stable_code_order_sorts_codes_and_keeps_ties_in_order():
    rng = np.random.default_rng(3)
    for n_tokens in (1, 7, 1000):
        codes = rng.integers(0, 50 * n_tokens, size=500)
        np.testing.assert_array_equal(features._stable_code_order(codes, n_tokens), np.argsort(codes, kind="stable"))


def test_levels_grouped_by_counting_sort_equal_levels_grouped_by_sorting():
    rng = np.random.default_rng(4)
    n_docs, n_tokens = 40, 30
    docs = np.sort(rng.integers(0, n_docs, size=3000)).astype(np.int32)  # entries come in document order
    codes = rng.integers(0, 5 * n_tokens, size=3000)
    counted = features._Level(codes.copy(), docs.copy(), n_docs, n_tokens)  # (both are working memory)
    sorted_ = features._Level(codes.copy(), docs.copy(), n_docs)
    for name in ("doc", "count", "df", "code", "start"):
        np.testing.assert_array_equal(getattr(counted, name), getattr(sorted_, name))
        assert getattr(counted, name).dtype == getattr(sorted_, name).dtype


def test_name_order_with_one_key_or_a_key_per_position(monkeypatch):
    counts = features._GramCounts(
        ["pain trial of low dose naltrexone", "low dose naltrexone in crps", "naltrexone pain", "dose"], (1, 3), None, True
    )
    codes = {n: level.code for n, level in counts.levels.items()}
    names = [name for n in codes for name in features._gram_names(counts.tokens, counts.prefixes, n, codes[n])]
    one_key = counts.name_order(codes)
    monkeypatch.setattr(features, "_KEY_LIMIT", 0)
    per_position = counts.name_order(codes)
    np.testing.assert_array_equal(one_key, per_position)
    assert [names[i] for i in one_key] == sorted(names)


def test_fit_transform_sorts_no_row(monkeypatch):
    # the count matrices are assembled column by column and transposed: their rows come out sorted
    import scipy.sparse._compressed as compressed

    def refuse(*args):
        raise AssertionError("a row was sorted")

    monkeypatch.setattr(compressed, "csr_sort_indices", refuse)
    X = TextFeatures(min_df=1, ngram_range=(1, 3)).fit_transform(DOCS * 3 + PART_RECORDS)
    assert X.has_sorted_indices
    assert all((np.diff(X.indices[a:b]) > 0).all() for a, b in zip(X.indptr[:-1], X.indptr[1:]))


def test_stable_code_order_with_digits_too_wide_for_16_bits():
    # digits of 2^16 or more go through the sparse transpositions, digits below through numpy's radix sort
    rng = np.random.default_rng(5)
    for n_tokens, high in ((70_000, 3 * 70_000), (7, 7 * 70_000), (2**16, 2**32)):
        codes = rng.integers(0, high, size=2000)
        codes[:50] = codes[50:100]  # ties, kept in order
        np.testing.assert_array_equal(features._stable_code_order(codes, n_tokens), np.argsort(codes, kind="stable"))


@pytest.mark.parametrize("path", PIECE_PATHS)
def test_piece_ids_without_stop_words_number_new_tokens_as_one_by_one(monkeypatch, path):
    # (the path that numbers a chunk's new tokens together: no stop words to check)
    _piece_path(monkeypatch, path)
    growing, one_by_one = features._GrowingTokenIds(None), features._GrowingTokenIds(None)
    for text in PIECE_TEXTS + [b"pain pain x naltrexone crps y crps", b"", b"a b c"]:
        expected = [one_by_one[piece] for piece in text.split()]
        assert features._piece_ids(text, growing).tolist() == expected
    assert growing.tokens == one_by_one.tokens
    assert (growing.table is not None) if path == "table" else dict(growing) == dict(one_by_one)


def test_ids_of_distinct_equals_ids_of():
    tokens = [b"pain", b"a", b"naltrexone", "na\u00efve".encode(), b"x", b"crps", features._SEPARATOR]
    names_of = lambda new: [t.decode() for t, is_new in zip(tokens, new) if is_new]  # noqa: E731
    together, one_by_one = features._GrowingTokenIds(None), features._GrowingTokenIds(None)
    for ids in (together, one_by_one):  # a token known before
        ids[b"crps"]
    assert together.ids_of_distinct(tokens, names_of).tolist() == one_by_one.ids_of(tokens).tolist()
    assert together.tokens == one_by_one.tokens == ["crps", "pain", "naltrexone", "na\u00efve"]
    assert dict(together) == dict(one_by_one)
    assert together.ids_of_distinct(tokens, names_of).tolist() == one_by_one.ids_of(tokens).tolist()  # all known now
