"""Tests of ldnscreen._kernels, the compiled inner loops, against the numpy and Arrow code they replace."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import ldnscreen.features as features
import ldnscreen.logistic as logistic
from ldnscreen import _compiled
from ldnscreen.records import Record

kernels = _compiled.kernels
needs_kernels = pytest.mark.skipif(kernels is None, reason="ldnscreen._kernels was not compiled")


def test_compiled_where_the_build_is_required():
    """CI sets LDNSCREEN_REQUIRE_COMPILED=1: a silently failed build (setup.py's optional=True) fails here."""
    if os.environ.get("LDNSCREEN_REQUIRE_COMPILED") != "1":
        pytest.skip("LDNSCREEN_REQUIRE_COMPILED is not set")
    assert kernels is not None, "ldnscreen._kernels did not compile (pip install -e . -v shows the compiler's error)"


def test_environment_turns_the_compiled_code_off():
    code = "from ldnscreen import _compiled, logistic, features; print(_compiled.kernels, logistic._kernels, features._kernels)"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "LDNSCREEN_COMPILED": "0"},
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["None", "None", "None"]


@needs_kernels
def test_without_scipys_lapack_exports_the_numpy_code_runs():
    """If scipy stops exporting LAPACK to compiled code, the module does not load and ldnscreen goes on."""
    code = ("import sys, types, scipy.linalg; sys.modules['scipy.linalg.cython_lapack'] = types.ModuleType('cython_lapack'); "
            "from ldnscreen import _compiled, logistic; import numpy as np; "
            "print(_compiled.kernels, logistic.newton_kernel(np.eye(2) + 1, np.array([1.0, -1.0]), np.ones(2))[1] > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["None", "True"]


# --- newton -------------------------------------------------------------------------------------


def problem(seed: int, n: int, size: int | None = None):
    """A Gram matrix (as the leading block of a ``size x size`` buffer of NaNs when ``size``), signs and costs."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, 300, density=0.05, random_state=seed, format="csr")
    G = (X @ X.T).toarray() + 1.0
    if size is not None:
        buffer = np.full((size, size), np.nan)  # nothing outside the block may be read
        buffer[:n, :n] = G
        G = buffer[:n, :n]
    s = np.where(rng.random(n) < 0.2, 1.0, -1.0)
    s[:2] = [1.0, -1.0][:n]
    cost = np.where(s > 0, 12.0, 0.6)
    return G, s, cost


def solve(G, s, cost, beta=None, state=None, compiled=True):
    saved = logistic._kernels
    logistic._kernels = kernels if compiled else None
    try:
        return logistic.newton_kernel(G, s, cost, beta, state=state)
    finally:
        logistic._kernels = saved


@needs_kernels
@pytest.mark.parametrize("n, size", [(1, None), (2, None), (7, 7), (40, 64), (150, None), (150, 200)])
def test_newton_takes_the_numpy_codes_steps(n, size):
    G, s, cost = problem(n, n, size)
    compiled, steps = solve(G, s, cost)
    plain, plain_steps = solve(np.ascontiguousarray(G), s, cost, compiled=False)
    assert steps == plain_steps
    np.testing.assert_allclose(compiled, plain, rtol=1e-9, atol=1e-12)


@needs_kernels
def test_newton_carries_the_factor_as_the_numpy_code_does(monkeypatch):
    """Rows arrive one to three at a time past CARRY_ROWS: the kept factor is bordered, in either code."""
    monkeypatch.setattr(logistic, "CARRY_ROWS", 16)
    monkeypatch.setattr(logistic, "COMPILED_CARRY_ROWS", 16)
    G, s, cost = problem(3, 90, 128)
    states = {True: {}, False: {}}
    betas = {True: np.zeros(0), False: np.zeros(0)}
    n = 10
    while n <= 90:
        for compiled in (True, False):
            start = np.r_[betas[compiled], np.zeros(n - betas[compiled].shape[0])]
            betas[compiled], _ = solve(G[:n, :n], s[:n], cost[:n], start, states[compiled], compiled)
        margins = np.ascontiguousarray(G[:n, :n]) @ betas[True]
        np.testing.assert_allclose(margins, np.ascontiguousarray(G[:n, :n]) @ betas[False], atol=1e-6)
        if n >= 16:
            carried, plain = np.tril(states[True]["chol"]), np.tril(states[False]["chol"])
            assert carried.shape == plain.shape == (n, n)
        n += 1 + n % 3
    # the two codes can follow each other: the compiled solver carries the numpy code's kept factor
    last = betas[False].shape[0]
    m = min(last + 2, 90)
    block = np.ascontiguousarray(G[:m, :m])
    mixed, _ = solve(block, s[:m], cost[:m], np.r_[betas[False], np.zeros(m - last)], states[False], compiled=True)
    alone, _ = solve(block, s[:m], cost[:m], compiled=False)
    np.testing.assert_allclose(block @ mixed, block @ alone, atol=1e-6)


@needs_kernels
def test_newton_reports_a_hessian_that_is_not_positive_definite():
    G = np.array([[1.0, 2.0], [2.0, 1.0]]) * -50.0  # not a Gram matrix
    factor, root = np.empty((2, 2)), np.empty(2)
    n_iter, factored, _ = kernels.newton(G, np.array([1.0, -1.0]), np.ones(2), np.zeros(2), 1e-10, 100, factor, root)
    assert n_iter == -1 and not factored
    with pytest.raises(np.linalg.LinAlgError):
        solve(G, np.array([1.0, -1.0]), np.ones(2))


@needs_kernels
def test_newton_checks_its_arrays():
    G, s, cost = problem(0, 5)
    factor, root = np.empty((5, 5)), np.empty(5)
    with pytest.raises(TypeError, match="beta"):
        kernels.newton(G, s, cost, np.zeros(5, dtype=np.float32), 1e-10, 100, factor, root)
    with pytest.raises(ValueError, match="5 x 5"):
        kernels.newton(G, s, cost, np.zeros(4), 1e-10, 100, factor, root)
    with pytest.raises(TypeError, match="G must be"):
        kernels.newton(G[:, :4], s, cost, np.zeros(5), 1e-10, 100, factor, root)
    with pytest.raises(ValueError, match="old_factor"):
        kernels.newton(G, s, cost, np.zeros(5), 1e-10, 100, factor, root, np.eye(6), np.ones(6))
    with pytest.raises(TypeError, match="writable"):
        frozen = np.zeros(5)
        frozen.flags.writeable = False
        kernels.newton(G, s, cost, frozen, 1e-10, 100, factor, root)


# --- kernel_column ------------------------------------------------------------------------------


@needs_kernels
@pytest.mark.parametrize("value_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_kernel_column_sums_as_the_sparse_product(value_dtype, index_dtype):
    X = sp.random(60, 500, density=0.04, random_state=1, format="csr", dtype=value_dtype)
    X.indices = X.indices.astype(index_dtype)
    X.indptr = X.indptr.astype(index_dtype)
    gram = logistic.ScoringGram(X, offset=1.0)
    for row in (0, 7, 59):
        compiled = gram.column(row)
        saved = logistic._kernels
        logistic._kernels = None
        try:
            plain = gram.column(row)
        finally:
            logistic._kernels = saved
        assert compiled.tobytes() == plain.tobytes()  # the same sums in the same order
        np.testing.assert_allclose(compiled, X.astype(np.float64) @ X[row].astype(np.float64).T.toarray().ravel() + 1.0)


@needs_kernels
def test_kernel_column_refuses_indices_out_of_range():
    indptr = np.array([0, 1, 2], dtype=np.int32)
    out = np.zeros(3)
    with pytest.raises(IndexError):
        kernels.kernel_column(indptr, np.array([0, 5], dtype=np.int32), np.ones(2), np.array([1], dtype=np.int32),
                              np.ones(1), out)
    with pytest.raises(IndexError):
        kernels.kernel_column(indptr, np.array([0, 1], dtype=np.int32), np.ones(2), np.array([2], dtype=np.int32),
                              np.ones(1), out)
    with pytest.raises(TypeError, match="one integer dtype"):
        kernels.kernel_column(indptr, np.array([0, 1], dtype=np.int64), np.ones(2), np.array([1], dtype=np.int32),
                              np.ones(1), out)


# --- split_distinct -----------------------------------------------------------------------------


def reference_split(text: bytes):
    pieces = text.split()
    first = {}
    for piece in pieces:
        first.setdefault(piece, len(first))
    return list(first), [first[piece] for piece in pieces]


@needs_kernels
@pytest.mark.parametrize("text", [
    b"", b"   ", b"pain", b" pain  naltrexone a pain \n\tldn ", b"a\x0bb\x0cc\rd\ne\tf g",
    "low-dose naltrexone \u0100 fibromyalgie \u00e9t\u00e9 \u00a0 x\u0085y".encode(),
    b"\x1c\x1d\x1e\x1f are not white space for bytes.split",
])
def test_split_distinct_is_bytes_split_numbered_by_first_appearance(text):
    keys, indices = kernels.split_distinct(text)
    expected_keys, expected_indices = reference_split(text)
    assert keys == expected_keys
    assert np.frombuffer(indices, dtype=np.int32).tolist() == expected_indices


@needs_kernels
def test_split_distinct_with_many_distinct_pieces():
    rng = np.random.default_rng(0)
    words = [f"w{k}".encode() for k in range(20_000)]  # the table grows several times
    text = b" ".join(words[k] for k in rng.integers(0, len(words), 100_000))
    keys, indices = kernels.split_distinct(text)
    expected_keys, expected_indices = reference_split(text)
    assert keys == expected_keys
    assert np.array_equal(np.frombuffer(indices, dtype=np.int32), expected_indices)


def numpy_level(codes, docs, n_docs, n_tokens, monkeypatch):
    """A :class:`features._Level` grouped by the numpy code (a sort, or the counting sort below its limit)."""
    monkeypatch.setattr(features, "_kernels", None)
    try:
        return features._Level(codes.copy(), docs.copy(), n_docs, n_tokens)
    finally:
        monkeypatch.setattr(features, "_kernels", kernels)


@needs_kernels
@pytest.mark.parametrize("n_tokens, n_prefixes, n, n_docs", [
    (1, 1, 5, 2), (4, 3, 1, 1), (7, 5, 40, 3), (300, 300, 5_000, 40), (70_000, 70_000, 700_000, 2_000),
    (50, 90_000, 20_000, 30),  # more prefixes than codes and tokens (trigrams' compact bigram ids can be)
    (3, 10**7, 1_000, 10),  # prefixes too large for buckets: the numpy code's sort
])
def test_group_grams_groups_as_the_numpy_code(n_tokens, n_prefixes, n, n_docs, monkeypatch):
    rng = np.random.default_rng(n)
    # few distinct codes, so that (code, document) pairs repeat; documents ascending
    prefix = rng.integers(0, n_prefixes, size=max(1, n // 10))[rng.integers(0, max(1, n // 10), size=n)]
    codes = prefix.astype(np.int64) * n_tokens + rng.integers(0, n_tokens, size=n)
    docs = np.sort(rng.integers(0, n_docs, size=n)).astype(np.int32)
    monkeypatch.setattr(features, "_COUNTING_SORT_ENTRIES", 0)  # the sort ...
    by_sort = numpy_level(codes, docs, n_docs, n_tokens, monkeypatch)
    monkeypatch.setattr(features, "_COUNTING_SORT_ENTRIES", 2**40)  # ... and the counting sort
    by_counting = numpy_level(codes, docs, n_docs, n_tokens, monkeypatch)
    compiled = features._Level(codes.copy(), docs.copy(), n_docs, n_tokens)
    for reference in (by_sort, by_counting):
        for name in ("doc", "count", "df", "code", "start"):
            assert getattr(compiled, name).tolist() == getattr(reference, name).tolist(), name
            assert getattr(compiled, name).dtype == getattr(reference, name).dtype, name


@needs_kernels
def test_group_grams_of_strided_or_read_only_arrays_groups_a_copy():
    codes = np.array([7, 0, 3, 0, 7, 0, 3, 0, 5, 0])[::2]  # (strided)
    docs = np.array([0, 0, 0, 1, 1], dtype=np.int64)
    docs.flags.writeable = False
    doc, count, code = features._group_grams(codes, docs, 4)
    assert (doc.tolist(), count.tolist(), code.tolist()) == ([0, 1, 1, 0], [1, 1, 1, 2], [3, 3, 5, 7])
    assert codes.tolist() == [7, 3, 7, 3, 5] and docs.tolist() == [0, 0, 0, 1, 1]


@needs_kernels
def test_group_grams_checks_its_input():
    def call(codes, docs, count=3, dtype=np.int64):
        return kernels.group_grams(np.array(codes, dtype=dtype), np.array(docs, dtype=np.int32), 4, np.empty(count, dtype=np.int32))

    with pytest.raises(ValueError, match="not ascending"):
        call([1, 2, 3], [0, 2, 1])
    with pytest.raises(ValueError, match="negative"):
        call([1, -2, 3], [0, 1, 1])
    with pytest.raises(ValueError, match="too short"):
        call([1, 2, 3], [0, 1, 1], count=2)
    with pytest.raises(TypeError, match="codes"):
        call([1, 2, 3], [0, 1, 1], dtype=np.int32)
    codes, docs = np.array([1, 2, 10**12]), np.array([0, 1, 1], dtype=np.int32)
    assert kernels.group_grams(codes, docs, 4, np.empty(3, dtype=np.int32)) == -1  # (the numpy code sorts)
    assert codes.tolist() == [1, 2, 10**12] and docs.tolist() == [0, 1, 1]  # left as they were
    # far more tokens than codes: no bucket array sized by the tokens (2**31 would be 16 GiB)
    assert kernels.group_grams(np.array([5]), np.array([0], dtype=np.int32), 2**31, np.empty(1, dtype=np.int32)) == -1


@needs_kernels
def test_token_table_checks_its_known_pieces():
    for known, ids in (([b""], [-2]), ([b"the"], [0]), ([b"the"], [-(2**40)]), (["the"], [-2])):
        with pytest.raises(ValueError, match="non-empty bytes with negative int32 ids"):
            kernels.token_table(known, ids, -2)
    with pytest.raises(ValueError, match="differ in length"):
        kernels.token_table([b"the"], [], -2)


def corpus():
    """Composed records (not real citations) with non-ASCII text, duplicates and an empty abstract."""
    topics = ["low-dose naltrexone", "fibromyalgia pain", "complex regional pain syndrome", "neuropathic pain",
              "opioid antagonist", "placebo-controlled trial", "Müller's cohort", "crossover étude", "dose 4.5 mg"]
    rng = np.random.default_rng(4)
    records = []
    for k in range(120):
        words = rng.choice(topics, size=6)
        records.append(Record(id=str(k), title=" ".join(words[:2]), abstract="" if k % 17 == 0 else ". ".join(words)))
    records.append(Record(id="dup", title=records[3].title, abstract=records[3].abstract))
    return records


@needs_kernels
@pytest.mark.parametrize("stop_words", [None, "english"])
def test_the_compiled_token_table_numbers_pieces_as_the_dictionary_one_by_one(stop_words):
    rng = np.random.default_rng(1)
    words = [b"pain", b"a", b"the", b"ldn", "\u00e9t\u00e9".encode(), b"x", b"of", b"crps", b"ab"] + [f"w{k}".encode() for k in range(3000)]
    chunks = [features._JOIN.join(b" ".join(words[k] for k in rng.integers(0, len(words), 40)) for _ in range(30)) for _ in range(5)]
    reference = features._GrowingTokenIds(features.TextFeatures(stop_words=stop_words)._vectorizer((1, 1), 1, 1.0).get_stop_words())
    compiled = features._GrowingTokenIds(reference.stop_words and [w.decode() for w in reference.stop_words])
    for chunk in chunks:  # the table carries on from chunk to chunk, as _tokenise uses it
        expected = [reference[piece] for piece in chunk.split()]
        assert compiled.compiled_ids(chunk).tolist() == expected
    assert compiled.table is not None and compiled.tokens == reference.tokens
    assert any(i == features._DROP for i in expected) and any(i == features._SEP_ID for i in expected)


@needs_kernels
def test_the_compiled_token_table_is_not_used_by_a_dictionary_that_has_numbered_pieces():
    ids = features._GrowingTokenIds(None)
    assert ids[b"pain"] == 0
    assert ids.compiled_ids(b"pain ldn") is None and ids.table is None


@needs_kernels
@pytest.mark.parametrize("stop_words", [None, "english", ["", "the", "of the"]])  # (an empty one matches no piece)
def test_features_are_the_same_with_and_without_the_compiled_split(stop_words):
    records = corpus()
    saved = features._kernels
    try:
        features._kernels = None
        plain = features.TextFeatures(stop_words=stop_words).fit(records)
        features._kernels = kernels
        compiled = features.TextFeatures(stop_words=stop_words).fit(records)
    finally:
        features._kernels = saved
    X_plain, X_compiled = plain.transform(records), compiled.transform(records)
    assert (X_plain != X_compiled).nnz == 0
    assert plain.get_feature_names_out().tolist() == compiled.get_feature_names_out().tolist()


@needs_kernels
def test_a_simulation_screens_in_the_same_order_with_and_without_the_compiled_code(monkeypatch):
    from ldnscreen.simulate import simulate

    records = corpus()
    labelled = [Record(id=r.id, title=r.title, abstract=r.abstract, labels={"label_included": int("naltrexone" in r.abstract)})
                for r in records]
    compiled = simulate(labelled, seed=3, progress=False)
    monkeypatch.setattr(logistic, "_kernels", None)
    monkeypatch.setattr(features, "_kernels", None)
    plain = simulate(labelled, seed=3, progress=False)
    assert list(compiled.record_ids) == list(plain.record_ids)
    assert compiled.metrics == plain.metrics
