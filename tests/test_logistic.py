"""Tests of ldnscreen.logistic: the exact kernel-space Newton solver and the incremental Gram matrix."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from ldnscreen import _compiled
from ldnscreen.logistic import LabelledGram, ScoringGram, class_costs, fit_logistic, newton_kernel


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def code_path(request, monkeypatch):
    """Every test here runs on the compiled inner loops (ldnscreen/_kernels.c) and on the numpy code."""
    import ldnscreen.logistic as logistic

    if request.param == "compiled":
        if _compiled.kernels is None:
            pytest.skip("ldnscreen._kernels was not compiled")
    else:
        monkeypatch.setattr(logistic, "_kernels", None)
    return request.param


def sparse_problem(seed: int, n: int = 60, d: int = 400, density: float = 0.03, share: float = 0.15):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, format="csr", random_state=seed, dtype=np.float64)
    X.data = rng.uniform(0.1, 1.0, X.nnz)
    truth = rng.normal(size=d)
    margin = X @ truth
    y = (margin > np.quantile(margin, 1 - share)).astype(int)
    flip = rng.random(n) < 0.1  # not separable
    y[flip] = 1 - y[flip]
    y[:2] = [1, 0]
    return X, y


def liblinear(X, y, class_weight, C=1.0, sample_weight=None):
    model = LogisticRegression(solver="liblinear", C=C, class_weight=class_weight, tol=1e-10, max_iter=100_000)
    model.fit(X, y, sample_weight=sample_weight)
    return model.coef_.ravel(), float(model.intercept_[0])


def costs_of(y, C, class_weight, boost=1.0):
    neg, pos = class_costs(np.asarray(y), C, class_weight, boost)
    return np.where(np.asarray(y) == 1, pos, neg)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("C, class_weight, boost", [(1.0, "balanced", 10.0), (0.3, None, 1.0), (5.0, {0: 0.5, 1: 3.0}, 1.0)])
def test_matches_liblinear_on_sparse_data(seed, C, class_weight, boost):
    X, y = sparse_problem(seed)
    cost = costs_of(y, C, class_weight, boost)
    coef, intercept, _ = fit_logistic(X, np.where(y == 1, 1.0, -1.0), cost)
    neg, pos = cost[y == 0][0], cost[y == 1][0]
    ref_coef, ref_intercept = liblinear(X, y, {0: neg / C, 1: pos / C}, C)
    np.testing.assert_allclose(coef, ref_coef, atol=1e-6)
    assert intercept == pytest.approx(ref_intercept, abs=1e-6)


def test_sample_weights_act_like_repeated_rows():
    X, y = sparse_problem(3, n=30)
    s = np.where(y == 1, 1.0, -1.0)
    twice = np.r_[np.ones(10) * 2.0, np.ones(20)]
    weighted = fit_logistic(X, s, twice)
    repeated = fit_logistic(sp.vstack([X[:10], X]), np.r_[s[:10], s], np.ones(40))
    np.testing.assert_allclose(weighted[0], repeated[0], atol=1e-8)
    assert weighted[1] == pytest.approx(repeated[1], abs=1e-8)


def test_dense_and_sparse_input_agree():
    X, y = sparse_problem(4)
    s, cost = np.where(y == 1, 1.0, -1.0), costs_of(y, 1.0, "balanced")
    sparse_fit, dense_fit = fit_logistic(X, s, cost), fit_logistic(X.toarray(), s, cost)
    np.testing.assert_allclose(sparse_fit[0], dense_fit[0], atol=1e-10)


def test_warm_start_reaches_the_same_optimum():
    X, y = sparse_problem(5)
    G = (X @ X.T).toarray() + 1.0
    s, cost = np.where(y == 1, 1.0, -1.0), costs_of(y, 1.0, "balanced", 10.0)
    cold, cold_iter = newton_kernel(G, s, cost)
    near, near_iter = newton_kernel(G, s, cost, beta=cold * 0.9)
    far, _ = newton_kernel(G, s, cost, beta=np.full(s.shape, 50.0))
    np.testing.assert_allclose(near, cold, atol=1e-8)
    np.testing.assert_allclose(far, cold, atol=1e-8)
    assert near_iter < cold_iter
    restart, restart_iter = newton_kernel(G, s, cost, beta=cold)
    assert restart_iter <= 1
    np.testing.assert_allclose(restart, cold, atol=1e-10)


def test_class_costs():
    y = np.array([0, 0, 0, 1])
    assert class_costs(y, 2.0, None) == (2.0, 2.0)
    assert class_costs(y, 1.0, "balanced") == pytest.approx((4 / 6, 2.0))
    assert class_costs(y, 1.0, {1: 5.0}) == (1.0, 5.0)
    with pytest.raises(ValueError, match="balanced"):
        class_costs(y, 1.0, "auto")


def test_gram_grows_row_by_row_and_in_blocks():
    X, _ = sparse_problem(6, n=40)
    X = sp.vstack([X, sp.csr_matrix((1, X.shape[1]))], format="csr").astype(np.float32)  # row 40 is empty
    gram = LabelledGram(X, offset=1.0)
    order = [5, 40, 3, 17, 0, 1, 2, 8, 9, 10, 11, 12, 30, 31]
    gram.extend(order[:1])
    gram.extend(order[1:3])  # row by row
    gram.extend(order[3:10])  # one block
    gram.extend(order[10:])
    X64 = X.astype(np.float64)
    expected = (X64[order] @ X64[order].T).toarray() + 1.0
    assert gram.rows == order
    np.testing.assert_allclose(gram.K, expected, atol=1e-12)
    beta = np.random.default_rng(0).normal(size=len(order))
    np.testing.assert_allclose(gram.coef(beta), X64[order].T @ beta, atol=1e-12)
    gram.reset([3, 5])
    np.testing.assert_allclose(gram.K, (X64[[3, 5]] @ X64[[3, 5]].T).toarray() + 1.0, atol=1e-12)


def test_matches_liblinear_on_shared_reviews(shared_screening):
    from ldnscreen.features import TextFeatures
    from ldnscreen.simulate import load_labelled_records

    for name in ("cohen2006_nsaids", "cohen2006_triptans", "kitchenham_2010"):
        records = load_labelled_records(shared_screening / f"{name}.csv")
        y_all = np.array([r.labels["label_included"] for r in records])
        X = TextFeatures().fit_transform(records)
        rng = np.random.default_rng(0)
        labelled = np.r_[rng.choice(np.flatnonzero(y_all == 1), 8, replace=False), rng.choice(np.flatnonzero(y_all == 0), 92, replace=False)]
        y = y_all[labelled]
        cost = costs_of(y, 1.0, "balanced", 10.0)
        coef, intercept, _ = fit_logistic(X[labelled], np.where(y == 1, 1.0, -1.0), cost)
        ref_coef, ref_intercept = liblinear(X[labelled], y, {0: cost[y == 0][0], 1: cost[y == 1][0]})
        np.testing.assert_allclose(coef, ref_coef, atol=1e-6)
        ours = X.astype(np.float64) @ coef + intercept
        theirs = X.astype(np.float64) @ ref_coef + ref_intercept
        # same ranking, except between records whose scores are within the solvers' tolerance
        order, ref_order = np.argsort(-ours, kind="stable"), np.argsort(-theirs, kind="stable")
        differ = order != ref_order
        assert np.all(np.abs(ours[order[differ]] - ours[ref_order[differ]]) < 1e-6), name


def test_gram_without_scipys_private_kernels(monkeypatch):
    import ldnscreen.logistic as logistic

    X, _ = sparse_problem(7, n=20)
    fast = LabelledGram(X, offset=1.0)
    fast.extend([3, 1])
    fast.extend([4])
    monkeypatch.setattr(logistic, "_csr_matvec", None)
    monkeypatch.setattr(logistic, "_csc_matvec", None)
    public = LabelledGram(X, offset=1.0)
    public.extend([3, 1])
    public.extend([4])
    np.testing.assert_allclose(public.K, fast.K, atol=1e-12)
    beta = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(public.coef(beta), fast.coef(beta), atol=1e-12)


def _with_duplicates(seed: int = 8, n: int = 50) -> sp.csr_matrix:
    X, _ = sparse_problem(seed, n=n)
    # rows 50 and 51 repeat rows 7 and 3, row 52 is empty
    return sp.vstack([X, X[7], X[3], sp.csr_matrix((1, X.shape[1]))], format="csr").astype(np.float32)


def test_scoring_gram_keeps_the_labelled_gram_and_scores_every_record():
    X = _with_duplicates()
    X64 = X.astype(np.float64)
    order = [5, 52, 3, 17, 0, 1, 2, 8, 9, 10, 11, 12, 30, 31, 50]
    gram, plain = ScoringGram(X, offset=1.0, max_rows=8), LabelledGram(X, offset=1.0)
    for part in (order[:1], order[1:3], order[3:10], order[10:]):
        gram.extend(part)
        plain.extend(part)
    assert gram.rows == order and gram.n == len(order)
    np.testing.assert_allclose(gram.K, plain.K, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(gram.K, gram.K.T)  # exactly symmetric, as LAPACK reads one triangle
    beta = np.random.default_rng(0).normal(size=len(order))
    np.testing.assert_allclose(gram.margins(beta), X64 @ gram.coef(beta) + beta.sum(), rtol=1e-12, atol=1e-12)
    # the first rows only, as for a solution from before the last rows were added
    np.testing.assert_allclose(gram.margins(beta[:4]), X64 @ (X64[order[:4]].T @ beta[:4]) + beta[:4].sum(), atol=1e-12)
    np.testing.assert_allclose(gram.column(3), X64 @ X64[3].toarray().ravel() + 1.0, atol=1e-12)
    gram.reset([3, 5])
    np.testing.assert_allclose(gram.K, (X64[[3, 5]] @ X64[[3, 5]].T).toarray() + 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="3 coefficients for 2 rows"):
        gram.margins(np.ones(3))


def test_scoring_gram_gives_identical_rows_identical_margins():
    X = _with_duplicates()
    gram = ScoringGram(X, offset=1.0)
    np.testing.assert_array_equal(np.sort(np.c_[gram._duplicates, gram._originals], axis=0), [[50, 3], [51, 7]])
    gram.extend(range(40))
    rng = np.random.default_rng(1)
    for _ in range(20):  # a dense product alone may round equal rows differently; these stay tied
        margins = gram.margins(rng.normal(size=40))
        assert margins[50] == margins[7] and margins[51] == margins[3]


def test_scoring_gram_without_scipys_private_kernels(monkeypatch):
    import ldnscreen.logistic as logistic

    X = _with_duplicates()
    fast = ScoringGram(X, offset=1.0)
    fast.extend([3, 52, 1])
    monkeypatch.setattr(logistic, "_csc_matvec", None)
    public = ScoringGram(X, offset=1.0)
    public.extend([3, 52, 1])
    np.testing.assert_allclose(public.K, fast.K, atol=1e-12)
    beta = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(public.margins(beta), fast.margins(beta), atol=1e-12)


def test_carried_hessian_factor_reaches_the_same_optimum_with_fewer_factorisations(monkeypatch, code_path):
    import ldnscreen.logistic as logistic

    monkeypatch.setattr(logistic, "CARRY_ROWS", 20)
    monkeypatch.setattr(logistic, "COMPILED_CARRY_ROWS", 20)
    factorisations = []
    if code_path == "compiled":
        kernels = logistic._kernels

        class Counting:  # the compiled solver reports how many Hessians it factorised
            def newton(self, *args):
                result = kernels.newton(*args)
                factorisations.extend([args[0].shape[0]] * result[2])
                return result

        monkeypatch.setattr(logistic, "_kernels", Counting())
    else:
        dpotrf = logistic.dpotrf

        def counted(*args, **kwargs):
            factorisations.append(args[0].shape[0])
            return dpotrf(*args, **kwargs)

        monkeypatch.setattr(logistic, "dpotrf", counted)
    X, y = sparse_problem(9, n=80)
    G = (X @ X.T).toarray() + 1.0
    s = np.where(y == 1, 1.0, -1.0)
    state: dict = {}
    carried_beta = plain_beta = np.zeros(0)
    carried_count = plain_count = 0
    for n in range(30, 81):  # one label at a time, the costs changing with the class counts
        cost = costs_of(y[:n], 1.0, "balanced", 10.0)
        start = len(factorisations)
        carried_beta, _ = newton_kernel(G[:n, :n], s[:n], cost, np.r_[carried_beta, np.zeros(n - carried_beta.shape[0])], state=state)
        carried_count += len(factorisations) - start
        start = len(factorisations)
        plain_beta, _ = newton_kernel(G[:n, :n], s[:n], cost, np.r_[plain_beta, np.zeros(n - plain_beta.shape[0])])
        plain_count += len(factorisations) - start
        cold, _ = newton_kernel(G[:n, :n], s[:n], cost)
        # the margins of the optimum, to the solvers' tolerance (both stop at a relative gradient of 1e-10)
        np.testing.assert_allclose(G[:n, :n] @ carried_beta, G[:n, :n] @ cold, atol=1e-6)
        np.testing.assert_allclose(G[:n, :n] @ carried_beta, G[:n, :n] @ plain_beta, atol=1e-6)
        assert state["chol"].shape == (n, n)
    assert carried_count < 0.9 * plain_count, (carried_count, plain_count)


def test_scoring_gram_of_a_matrix_with_unsorted_column_indices():
    X = _with_duplicates()
    shuffled = X.copy()
    rng = np.random.default_rng(2)
    for row in range(shuffled.shape[0]):  # the same matrix, each row's values stored in another order
        lo, hi = shuffled.indptr[row], shuffled.indptr[row + 1]
        order = lo + rng.permutation(hi - lo)
        shuffled.indices[lo:hi], shuffled.data[lo:hi] = X.indices[order], X.data[order]
    shuffled.has_sorted_indices = False
    sorted_gram, shuffled_gram = ScoringGram(X, offset=1.0), ScoringGram(shuffled, offset=1.0)
    X64 = X.astype(np.float64)
    for row in (0, 3, 52, 17):
        np.testing.assert_allclose(shuffled_gram.column(row), X64 @ X64[row].toarray().ravel() + 1.0, atol=1e-12)
        np.testing.assert_allclose(sorted_gram.column(row), X64 @ X64[row].toarray().ravel() + 1.0, atol=1e-12)


def test_scoring_gram_column_adds_the_rows_columns_last_column_first():
    # one record's column of B: each of its columns' values in all records, in descending column
    # order, exactly (the pointers into the transposed matrix are made per row, not kept per value)
    X = _with_duplicates()
    gram = ScoringGram(X, offset=1.0)
    T = sp.csr_matrix(X.T, dtype=np.float64)
    for row in (0, 3, 17, 52):
        expected = np.zeros(X.shape[0])
        lo, hi = X.indptr[row], X.indptr[row + 1]
        for column, value in sorted(zip(X.indices[lo:hi].tolist(), X.data[lo:hi].astype(np.float64).tolist()), reverse=True):
            a, b = T.indptr[column], T.indptr[column + 1]
            expected[T.indices[a:b]] += T.data[a:b] * value
        expected += 1.0
        np.testing.assert_array_equal(gram.column(row), expected)


def test_scoring_gram_coefficients_equal_the_labelled_grams_bit_for_bit():
    # the scoring Gram keeps no copy of the labelled rows' values: it takes them from X when read
    X = _with_duplicates()
    order = [5, 52, 3, 17, 0, 1, 2, 8, 9, 10, 11, 12, 30, 31, 50]
    gram, plain = ScoringGram(X, offset=1.0, max_rows=6), LabelledGram(X, offset=1.0)
    beta = np.random.default_rng(3).normal(size=len(order))
    for part in (order[:1], order[1:3], order[3:10], order[10:]):
        gram.extend(part)
        plain.extend(part)
        n = len(gram.rows)
        np.testing.assert_array_equal(gram.coef(beta[:n]), plain.coef(beta[:n]))
        np.testing.assert_array_equal(gram.coef(beta[:1]), plain.coef(beta[:1]))  # the first row only
        assert (gram.matrix != sp.csr_matrix(X[gram.rows], dtype=np.float64)).nnz == 0 and gram.matrix.dtype == np.float64
        # each row of K is the new column of B at the labelled rows, and K is exactly symmetric
        np.testing.assert_array_equal(gram.K, gram._B[gram.rows, :n])
        np.testing.assert_array_equal(gram.K, gram.K.T)
    gram.reset([31, 3])
    plain.reset([31, 3])
    np.testing.assert_array_equal(gram.coef(beta[:2]), plain.coef(beta[:2]))
    np.testing.assert_array_equal(gram.K, gram._B[[31, 3], :2])


def test_scoring_gram_with_max_rows_takes_its_block_once_and_scores_as_one_that_grows():
    X = _with_duplicates()
    order = [5, 52, 3, 17, 0, 1, 2, 8, 9, 10]
    once, growing = ScoringGram(X, offset=1.0, max_rows=8), ScoringGram(X, offset=1.0)
    beta = np.random.default_rng(5).normal(size=len(order))
    for part in (order[:1], order[1:3], order[3:8], order[8:]):
        once.extend(part)
        growing.extend(part)
        n = len(once.rows)
        assert once._B.shape[1] == max(8, n)  # all of max_rows at the first row; past it, what is needed
        np.testing.assert_array_equal(once.margins(beta[:n]), growing.margins(beta[:n]))
        np.testing.assert_array_equal(once.K, growing.K)


def test_newton_kernel_leaves_its_inputs_as_they_were():
    X, y = sparse_problem(10, n=40)
    G = (X @ X.T).toarray() + 1.0
    s = np.where(y == 1, 1.0, -1.0)
    cost = costs_of(y, 1.0, "balanced", 10.0)
    start = np.linspace(-0.1, 0.1, 40)
    copies = [a.copy() for a in (G, s, cost, start)]
    beta, n_iter = newton_kernel(G, s, cost, start)
    assert n_iter >= 2  # factorised more than once in this call
    for array, copy in zip((G, s, cost, start), copies):
        np.testing.assert_array_equal(array, copy)
    # the optimum: the gradient beta - c s sigmoid(-s m) vanishes
    from scipy.special import expit

    np.testing.assert_allclose(beta, cost * s * expit(-s * (G @ beta)), atol=1e-8)


def test_scoring_gram_products_are_each_labelled_rows_products_with_every_record():
    X = sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 2.0]]))
    gram = ScoringGram(X, offset=1.0)
    gram.extend([2, 1])
    assert gram.products(0).tolist() == (X @ X[2].T).toarray().ravel().tolist() == [3.0, 3.0, 3.0, 3.0]
    assert gram.products(1).tolist() == [0.0, 9.0, 3.0, 0.0]
    assert gram.products(1)[0] == gram.products(1)[3]  # identical rows 0 and 3: identical values
    with pytest.raises(IndexError, match="labelled row 2 of 2"):
        gram.products(2)
