"""Exact L2 logistic regression for few labelled rows, solved in the space of the rows.

The objective is the one liblinear solves for
``LogisticRegression(solver="liblinear", C=C, class_weight=...)`` with its
default intercept (``intercept_scaling=1``: the bias is one more constant
feature, and it is regularised like the others)::

    min_{w, b}  0.5 * (|w|^2 + b^2) + sum_i c_i * log(1 + exp(-s_i * (w . x_i + b)))

with ``s_i = +1`` for the positive class, ``-1`` otherwise, and the cost
``c_i = C * class_weight[y_i] * sample_weight_i``.

Representer form
----------------
At the optimum ``(w, b) = sum_i beta_i (x_i, 1)``, so with the Gram matrix
``G = K + 1`` (``K = X X^T``, one row and column per labelled record) the
margins are ``m = G beta`` and ``|w|^2 + b^2 = beta . m``. The gradient in
``(w, b)`` is ``X~^T v`` with ``v = beta + r`` and ``r_i = -c_i s_i sigmoid(-s_i m_i)``;
a Newton step in ``(w, b)`` is ``X~^T delta`` with ::

    (I + D G) delta = -v,    D = diag(c_i p_i (1 - p_i)),

solved through the symmetric positive definite ``I + D^1/2 G D^1/2``
(Cholesky; Rasmussen and Williams, *Gaussian Processes for Machine
Learning*, algorithm 3.1)::

    delta = -(v - D^1/2 (I + D^1/2 G D^1/2)^-1 D^1/2 G v).

Each step costs ``O(n^3)`` in the number ``n`` of labelled rows, independent
of the number of features. Warm-started from the previous solution (labels
arrive one at a time in screening), three or four steps reach a relative
gradient norm of ``1e-10`` (``TOL``); once the gradient is below ``1e-5`` of
its size at zero, the last factorisation is reused (a simplified Newton step,
which still shrinks the gradient tenfold or more, else the Hessian is
factorised again). :class:`LabelledGram` keeps ``K`` up to date as labelled
rows are appended, so a retrain computes only the new rows' dot products.

For a warm-started sequence of fits on growing row sets (``state``), with at
least :data:`CARRY_ROWS` rows (:data:`COMPILED_CARRY_ROWS` in the compiled
solver) the last factorisation is carried to the next call, bordered by the
new rows, and used while it shrinks the gradient tenfold per step: on
``cohen2006_adhd`` a quarter of the factorisations of 128 rows or more.
:class:`ScoringGram` also keeps every record's kernel row against the labelled
rows, so all records are scored by a dense ``n_records x n`` product instead
of a sparse product over the whole feature matrix.

Where ``ldnscreen._kernels`` was compiled (``setup.py``), :func:`newton_kernel`
runs the same iteration in C with scipy's LAPACK, and :class:`ScoringGram` adds
a new row's products in C (the same sums in the same order); the numpy code
here is the fallback and the reference the compiled code is tested against.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg.lapack import dpotrf, dpotrs, dtrtrs
from scipy.special import expit

from ldnscreen._compiled import kernels as _kernels  # compiled inner loops, or None

try:  # scipy's own sparse kernels, called without building a matrix object (~40 us a step)
    from scipy.sparse._sparsetools import csc_matvec as _csc_matvec
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
except ImportError:  # pragma: no cover - private module moved: the public operators below
    _csc_matvec = _csr_matvec = None

__all__ = ["newton_kernel", "fit_logistic", "class_costs", "costs_from_counts", "LabelledGram", "ScoringGram", "TOL"]

#: Relative gradient-norm tolerance of :func:`newton_kernel` (against the gradient at zero).
TOL = 1e-10

#: From this many rows on, :func:`newton_kernel` carries its Hessian factor to the next call
#: (``state``): a factorisation costs ``n^3 / 3``, a step with a kept factor ``~6 n^2``.
CARRY_ROWS = 128

#: :data:`CARRY_ROWS` for the compiled solver, where bordering a factor costs no numpy calls: on
#: nsaids 1.2 factorisations per solve instead of 2.4 (more, cheaper steps: 4.8 instead of 3.8).
COMPILED_CARRY_ROWS = 32


def newton_kernel(
    G: np.ndarray, s: np.ndarray, cost: np.ndarray, beta: np.ndarray | None = None, tol: float = TOL, max_iter: int = 100,
    state: dict | None = None,
) -> tuple[np.ndarray, int]:
    """Minimise the logistic objective over ``beta`` given the Gram matrix ``G = X X^T + 1``.

    Parameters
    ----------
    G : ndarray of shape (n, n), float64
        Gram matrix of the labelled rows plus 1 (the intercept feature).
    s : ndarray of shape (n,)
        +1 for the positive class, -1 for the negative one.
    cost : ndarray of shape (n,)
        Positive per-row loss weights ``C * class_weight * sample_weight``.
    beta : ndarray of shape (n,), optional
        Starting point (e.g. the previous solution, zeros for new rows).
    tol : float, default=TOL
        Stop when the gradient norm falls below ``tol`` times its norm at zero.
    max_iter : int, default=100
        Newton steps at most.
    state : dict, optional
        Kept between the calls of one warm-started sequence (rows only appended,
        as in :class:`LabelledGram`): with at least :data:`CARRY_ROWS` rows the
        last Hessian factor is kept in it and, extended by the new rows, serves
        the next call's first steps while it shrinks the gradient tenfold per
        step; a factorisation is then needed only when the weights moved more.

    Returns
    -------
    beta : ndarray of shape (n,)
        ``w = X^T beta``, ``b = sum(beta)``.
    n_iter : int
        Newton steps taken.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> beta, _ = newton_kernel(X @ X.T + 1, np.array([1.0, -1.0, 1.0]), np.ones(3))
    >>> w, b = X.T @ beta, beta.sum()
    >>> bool(np.sign(X @ w + b).tolist() == [1.0, -1.0, 1.0])
    True
    """
    n = s.shape[0]
    beta = np.zeros(n) if beta is None else np.array(beta, dtype=np.float64)
    if n == 0:
        return beta, 0
    if _kernels is not None:
        return _newton_compiled(G, s, cost, beta, tol, max_iter, state)
    cs = cost * s
    neg_s = -s
    # A contiguous G (a kept Gram matrix is a view into a larger buffer): its products are the
    # same BLAS calls with the same results, and G.dot(x) skips matmul's dispatch (~1 us a product)
    G = np.ascontiguousarray(G, dtype=np.float64)
    # (x.dot(y) of two vectors is the BLAS ddot of x @ y, without the matmul dispatch: ~0.4 us less)
    g0 = 0.25 * float(cs.dot(G.dot(cs)))  # squared gradient norm at zero (r = -cs / 2 there)
    m = G.dot(beta)
    z = neg_s * m  # -s_i m_i
    zero = np.zeros(n)  # (logaddexp(0, z) with an array of zeros: no scalar converted per call)
    f = 0.5 * float(beta.dot(m)) + float(cost.dot(np.logaddexp(zero, z)))
    stop2, keep_below = tol * tol * g0, 1e-10 * g0
    chol = root = None
    carried = False
    if state is not None and n >= CARRY_ROWS and state.get("chol") is not None and state["chol"].shape[0] <= n:
        chol, root = _carry_factor(G, cost, z, state["chol"], state["root"])
        carried = True
    previous = np.inf
    n_iter = 0
    A = diagonal = None  # the Hessian's working matrix (factorised in place) and a view of its diagonal
    while True:
        p = expit(z)  # sigmoid(-s_i m_i): the probability of the other class
        v = cs * p
        np.subtract(beta, v, out=v)
        Gv = G.dot(v)
        g2 = float(v.dot(Gv))  # squared gradient norm
        if g2 <= stop2 or n_iter == max_iter:
            break
        if chol is None or (g2 > keep_below and not carried) or g2 > 1e-2 * previous:
            carried = False
            # factor the Hessian at this point; close to the optimum (relative gradient
            # below 1e-5) the last factor is kept while it still shrinks the gradient
            # 10-fold per step (a simplified Newton step: the weights D barely change)
            root = cost * p
            np.subtract(1.0, p, out=p)
            root *= p
            np.sqrt(root, out=root)
            if A is None:
                A = np.empty((n, n))
                diagonal = A.reshape(-1)[:: n + 1]
            np.multiply(G, root[:, None], out=A)
            A *= root
            diagonal += 1.0
            # A is symmetric: its transpose is the Fortran-ordered array LAPACK wants, no copy
            # (the factor overwrites A, which is not needed again before the next factorisation)
            chol, info = dpotrf(A.T, lower=1, clean=0, overwrite_a=1)
            if info != 0:  # not positive definite: cannot happen in exact arithmetic
                raise np.linalg.LinAlgError(f"Cholesky factorisation failed (info={info})")
        previous = g2
        solved, _ = dpotrs(chol, root * Gv, lower=1, overwrite_b=1)
        delta = root * solved
        delta -= v
        slope = float(Gv.dot(delta))  # directional derivative, < 0
        n_iter += 1
        if -slope <= 1e-13 * (1.0 + abs(f)):
            # within rounding of the optimum: the objective cannot tell the step apart,
            # take the full step (quadratic convergence) and stop
            beta = beta + delta
            break
        dm = G.dot(delta)
        beta_new, m_new = beta + delta, m + dm  # the full step first
        step = 1.0
        while True:
            z_new = neg_s * m_new
            f_new = 0.5 * float(beta_new.dot(m_new)) + float(cost.dot(np.logaddexp(zero, z_new)))
            if f_new <= f + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
            beta_new, m_new = beta + step * delta, m + step * dm
        if f_new > f:  # rounding noise at the optimum: no further progress possible
            break
        beta, m, z, f = beta_new, m_new, z_new, f_new
    if state is not None:
        state["chol"], state["root"] = (chol, root) if n >= CARRY_ROWS else (None, None)
    return beta, n_iter


def _newton_compiled(G, s, cost, beta, tol, max_iter, state):
    """:func:`newton_kernel` through ``ldnscreen._kernels.newton``: the same iteration, compiled.

    The kept factor is exchanged with ``state`` as the numpy code keeps it (a
    Fortran-ordered lower factor and its weights), so the two can follow each other.
    """
    n = beta.shape[0]
    carry = state is not None and n >= COMPILED_CARRY_ROWS
    factor, root = np.empty((n, n)), np.empty(n)  # (the factor column-major: factor.T is the matrix)
    old = old_root = None
    if carry and state.get("chol") is not None and state["chol"].shape[0] <= n:
        old, old_root = np.asfortranarray(state["chol"]).T, np.ascontiguousarray(state["root"], dtype=np.float64)
    if G.dtype != np.float64 or G.strides[1] != G.itemsize:  # (a kept Gram matrix's block is used in place)
        G = np.ascontiguousarray(G, dtype=np.float64)
    n_iter, factored, _ = _kernels.newton(
        G, np.ascontiguousarray(s, dtype=np.float64),
        np.ascontiguousarray(cost, dtype=np.float64), beta, float(tol), int(max_iter), factor, root, old, old_root,
    )
    if n_iter < 0:  # not positive definite: cannot happen in exact arithmetic
        raise np.linalg.LinAlgError("Cholesky factorisation failed")
    if state is not None:
        state["chol"], state["root"] = (factor.T, root) if carry and factored else (None, None)
    return beta, n_iter


def _carry_factor(G: np.ndarray, cost: np.ndarray, z: np.ndarray, chol: np.ndarray, root: np.ndarray):
    """A kept Cholesky factor of ``I + R G R`` extended by the rows after it (bordered at this point)."""
    n, n_old = G.shape[0], chol.shape[0]
    if n_old == n:
        return chol, root
    p = expit(z[n_old:])
    root_new = np.sqrt(cost[n_old:] * p * (1.0 - p))
    L = np.zeros((n, n), order="F")
    L[:n_old, :n_old] = chol
    C = G[:n_old, n_old:] * root[:, None]
    C *= root_new
    W, info = dtrtrs(chol, C, lower=1)  # L11 W = C: the new rows of the factor, transposed
    if info != 0:  # pragma: no cover - a singular factor cannot come out of dpotrf
        return None, None
    S = G[n_old:, n_old:] * root_new[:, None]
    S *= root_new
    S.reshape(-1)[:: n - n_old + 1] += 1.0
    S -= W.T @ W
    L22, info = dpotrf(S, lower=1, clean=1)
    if info != 0:  # rounding made the Schur complement indefinite: factorise afresh
        return None, None
    L[n_old:, :n_old] = W.T
    L[n_old:, n_old:] = L22
    return L, np.concatenate([root, root_new])


def class_costs(y: np.ndarray, C: float, class_weight, inclusion_boost: float = 1.0) -> tuple[float, float]:
    """Per-row loss weights ``(cost of a 0, cost of a 1)`` for 0/1 labels ``y`` with both classes.

    ``"balanced"`` is scikit-learn's ``n / (2 * count)``; ``inclusion_boost``
    multiplies the weight of class 1 afterwards.

    Examples
    --------
    >>> class_costs(np.array([0, 0, 0, 1]), 1.0, "balanced", 10.0)
    (0.6666666666666666, 20.0)
    """
    n_pos = int(np.count_nonzero(y))
    return costs_from_counts(y.shape[0] - n_pos, n_pos, C, class_weight, inclusion_boost)


def costs_from_counts(n_neg: int, n_pos: int, C: float, class_weight, inclusion_boost: float = 1.0) -> tuple[float, float]:
    """:func:`class_costs` from the number of 0 and 1 labels.

    Examples
    --------
    >>> costs_from_counts(3, 1, 1.0, "balanced", 10.0)
    (0.6666666666666666, 20.0)
    """
    if class_weight is None:
        neg, pos = 1.0, 1.0
    elif isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be 'balanced', a dict or None, got {class_weight!r}")
        n = n_neg + n_pos
        neg, pos = n / (2.0 * n_neg), n / (2.0 * n_pos)
    else:
        neg, pos = float(class_weight.get(0, 1.0)), float(class_weight.get(1, 1.0))
    return C * neg, C * pos * inclusion_boost


def fit_logistic(X, s: np.ndarray, cost: np.ndarray, tol: float = TOL, max_iter: int = 100) -> tuple[np.ndarray, float, int]:
    """Exact weighted L2 logistic regression with a regularised intercept, for few rows.

    Parameters
    ----------
    X : array or sparse matrix of shape (n, d)
    s : ndarray of shape (n,)
        +1 / -1 targets.
    cost : ndarray of shape (n,)
        Positive per-row loss weights.

    Returns
    -------
    coef : ndarray of shape (d,)
    intercept : float
    n_iter : int

    Examples
    --------
    >>> X = np.array([[2.0], [1.0], [-1.0], [-2.0]])
    >>> coef, intercept, _ = fit_logistic(X, np.array([1.0, 1.0, -1.0, -1.0]), np.ones(4))
    >>> bool(coef[0] > 0), round(intercept, 6)
    (True, 0.0)
    """
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        G = np.asarray((X @ X.T).toarray(), dtype=np.float64)
    else:
        X = np.asarray(X, dtype=np.float64)
        G = X @ X.T
    G += 1.0
    beta, n_iter = newton_kernel(G, np.asarray(s, dtype=np.float64), np.asarray(cost, dtype=np.float64), tol=tol, max_iter=max_iter)
    coef = np.asarray(X.T @ beta, dtype=np.float64).ravel()
    return coef, float(beta.sum()), n_iter


class LabelledGram:
    """``K = X_L X_L^T + offset`` of the labelled rows of a CSR matrix, grown one row at a time.

    ``offset=1`` adds the intercept feature: ``K`` is then the ``G`` of
    :func:`newton_kernel`.

    Rows are kept in the order they were added; :meth:`extend` computes only
    the new rows' dot products (one sparse matrix-vector product with the
    rows already there per new row). The labelled rows are kept as their own
    CSR matrix, so :meth:`coef` (``X_L^T beta``) needs no slicing of ``X``.

    Examples
    --------
    >>> X = sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [1.0, 1.0, 1.0]]))
    >>> gram = LabelledGram(X)
    >>> gram.extend([2, 0])
    >>> gram.K.tolist()
    [[3.0, 3.0], [3.0, 5.0]]
    >>> gram.coef(np.array([1.0, -1.0])).tolist()
    [0.0, 1.0, -1.0]
    """

    def __init__(self, X: sp.csr_matrix, offset: float = 0.0):
        self.X = X
        self.offset = offset
        self.rows: list[int] = []
        self._K = np.zeros((0, 0))
        index_dtype = X.indices.dtype
        self._indices = np.zeros(0, dtype=index_dtype)
        self._data = np.zeros(0)
        self._indptr = np.zeros(1, dtype=index_dtype)
        self._matrix: sp.csr_matrix | None = None
        self._buffer = np.zeros(X.shape[1])

    @property
    def n(self) -> int:
        """Rows in the matrix."""
        return len(self.rows)

    @property
    def K(self) -> np.ndarray:
        """The ``n x n`` Gram matrix (a view)."""
        n = len(self.rows)
        return self._K[:n, :n]

    @property
    def matrix(self) -> sp.csr_matrix:
        """The labelled rows as a float64 CSR matrix (shares the kept arrays)."""
        if self._matrix is None:
            n = len(self.rows)
            indptr, indices, data = self._stored(n)
            self._matrix = sp.csr_matrix((data, indices, indptr), shape=(n, self.X.shape[1]), copy=False)
        return self._matrix

    def _stored(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR arrays (``indptr``, ``indices``, float64 ``data``) of the first ``n`` labelled rows."""
        nnz = int(self._indptr[n])
        return self._indptr[: n + 1], self._indices[:nnz], self._data[:nnz]

    def _grow(self, n_rows: int, nnz: int) -> None:
        old = len(self.rows)
        if n_rows > self._K.shape[0]:
            size = max(n_rows, 2 * self._K.shape[0], 16)
            K = np.zeros((size, size))
            K[:old, :old] = self._K[:old, :old]
            self._K = K
            indptr = np.zeros(size + 1, dtype=self._indptr.dtype)
            indptr[: old + 1] = self._indptr[: old + 1]
            self._indptr = indptr
        if nnz > self._indices.shape[0]:
            size = max(nnz, 2 * self._indices.shape[0], 1024)
            used = int(self._indptr[old])
            for name in ("_indices", "_data"):
                array = getattr(self, name)
                grown = np.zeros(size, dtype=array.dtype)
                grown[:used] = array[:used]
                setattr(self, name, grown)

    def _append(self, indices: np.ndarray, data: np.ndarray, lengths: np.ndarray | None, rows: list[int]) -> None:
        """Keep the stored values of new rows (``lengths``: per row, ``None`` for one row)."""
        old, k = len(self.rows), len(rows)
        nnz = int(self._indptr[old])
        end = nnz + data.shape[0]
        self._grow(old + k, end)
        self._indices[nnz:end] = indices
        self._data[nnz:end] = data
        if lengths is None:
            self._indptr[old + 1] = end
        else:
            self._indptr[old + 1 : old + k + 1] = nnz + np.cumsum(lengths)
        self.rows.extend(rows)
        self._matrix = None

    def extend(self, rows) -> None:
        """Append these record indices (not yet in the matrix) as rows and columns."""
        rows = [int(row) for row in rows]
        old, k = len(self.rows), len(rows)
        if k == 0:
            return
        if k > 32 or old == 0:
            # many rows at once (a rebuild, or labels imported in bulk): one sparse product
            new = sp.csr_matrix(self.X[rows], dtype=np.float64)
            every = sp.vstack([self.matrix, new], format="csr") if old else new
            block = np.asarray((new @ every.T).toarray())
            block += self.offset
            self._grow(old + k, 0)
            self._K[old : old + k, : old + k] = block
            self._K[:old, old : old + k] = block[:, :old].T
            self._append(new.indices, new.data, np.diff(new.indptr), rows)
            return
        X, indptr, buffer = self.X, self.X.indptr, self._buffer
        for row in rows:
            j = len(self.rows)
            start, stop = indptr[row], indptr[row + 1]
            indices, data = X.indices[start:stop], X.data[start:stop].astype(np.float64)
            nnz = int(self._indptr[j])
            self._grow(j + 1, nnz + data.shape[0])
            buffer[indices] = data
            dots = self._K[j, : j + 1]
            dots[:old] = self._matvec(old, buffer)  # the rows there before this call
            for b in range(old, j):  # rows added earlier in this call
                lo, hi = self._indptr[b], self._indptr[b + 1]
                dots[b] = self._data[lo:hi] @ buffer[self._indices[lo:hi]]
            dots[j] = data @ data
            dots += self.offset
            buffer[indices] = 0.0
            self._K[:j, j] = dots[:j]
            self._indices[nnz : nnz + data.shape[0]] = indices
            self._data[nnz : nnz + data.shape[0]] = data
            self._indptr[j + 1] = nnz + data.shape[0]
            self.rows.append(row)
        self._matrix = None

    def reset(self, rows) -> None:
        """Rebuild for these record indices (after an unlabel)."""
        self.rows = []
        self._matrix = None
        self.extend(rows)

    def _matvec(self, n: int, vector: np.ndarray) -> np.ndarray:
        """The first ``n`` rows times a dense float64 vector over all columns."""
        if _csr_matvec is None or n == 0:
            return self.matrix[:n] @ vector
        out = np.zeros(n)
        _csr_matvec(n, self.X.shape[1], *self._stored(n), vector, out)
        return out

    def coef(self, beta: np.ndarray) -> np.ndarray:
        """``X_L^T beta`` as a dense vector over all columns (the first ``len(beta)`` rows)."""
        n = beta.shape[0]
        if n > len(self.rows):
            raise ValueError(f"{n} coefficients for {len(self.rows)} rows")
        if _csc_matvec is None or n == 0:
            return self.matrix[:n].T @ beta
        out = np.zeros(self.X.shape[1])
        # the rows' CSR arrays are the CSC arrays of their transpose
        _csc_matvec(self.X.shape[1], n, *self._stored(n), np.ascontiguousarray(beta, dtype=np.float64), out)
        return out


class ScoringGram(LabelledGram):
    """A :class:`LabelledGram` that also keeps every record's kernel row: scoring without the feature matrix.

    Besides ``K`` it keeps ``B = X X_L^T + offset`` (``n_records x n``, one
    column per labelled row), so the margins of all records under
    ``w = X_L^T beta`` and ``b = sum(beta)`` (with ``offset=1``) are the dense
    product ``B @ beta`` (:meth:`margins`): ``n_records * n`` multiply-adds
    instead of a sparse product over every stored value of ``X``, and the
    coefficient vector is only needed by whoever reads it (:meth:`coef`).
    A new labelled row costs one sparse product of that row with the
    columns it uses (a column-major copy of ``X``), whose entries at the
    labelled rows are also its new row of ``K``. Unlike a plain
    :class:`LabelledGram` it keeps no copy of the labelled rows' values: they
    are taken from ``X`` when :meth:`coef` or ``matrix`` is read.

    ``B`` takes ``8 * n_records`` bytes per labelled row (plus the float64
    copy of ``X``): for small reviews, or while few rows are labelled.
    Records with identical rows get identical margins (a dense product may
    round two equal rows differently, which would undo their tie-break).

    Examples
    --------
    >>> X = sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [1.0, 1.0, 1.0]]))
    >>> gram = ScoringGram(X, offset=1.0)
    >>> gram.extend([2, 0])
    >>> gram.K.tolist()
    [[4.0, 4.0], [4.0, 6.0]]
    >>> beta = np.array([1.0, -1.0])
    >>> gram.margins(beta).tolist() == (X @ gram.coef(beta) + beta.sum()).tolist()
    True
    """

    def __init__(self, X: sp.csr_matrix, offset: float = 0.0, max_rows: int | None = None):
        super().__init__(X, offset)
        n_records = X.shape[0]
        T = sp.csr_matrix(X.T, dtype=np.float64)  # column j of X is row j of T
        index_dtype = T.indices.dtype
        self._T = (T.indptr.astype(index_dtype, copy=False), T.indices, T.data)
        self._row_indices = X.indices.astype(index_dtype, copy=False)
        self._index_dtype = index_dtype
        self._max_rows = max_rows
        self._B = np.zeros((n_records, 0), order="F")
        self._row_array = np.zeros(0, dtype=np.intp)
        self._duplicates, self._originals = _duplicate_rows(X, self._T)
        # For the products of _column_into: each row's columns ascending, their values, and per
        # column of X where its values start and end in T.
        ordered = X if X.has_sorted_indices else X.sorted_indices()
        self._columns, self._values = ordered.indices.astype(index_dtype, copy=False), ordered.data
        self._spans = np.column_stack([self._T[0][:-1], self._T[0][1:]])
        self._bounds = X.indptr.tolist()  # (Python ints: read twice per new labelled row)

    def _grow_block(self, n_rows: int) -> None:
        """Room for ``n_rows`` labelled rows in ``B``, ``K`` and the row list."""
        capacity = self._B.shape[1]
        if n_rows <= capacity:
            return
        # With max_rows, all of it at once: B's columns are contiguous, so the memory of columns not
        # yet written is never touched (not resident), and nothing is copied as rows arrive.
        size = max(n_rows, 2 * capacity, 16) if self._max_rows is None else max(n_rows, self._max_rows)
        old = len(self.rows)
        B = np.empty((self._B.shape[0], size), order="F")
        B[:, :old] = self._B[:, :old]
        self._B = B
        K = np.zeros((size, size))
        K[:old, :old] = self._K[:old, :old]
        self._K = K
        rows = np.zeros(size, dtype=np.intp)
        rows[:old] = self._row_array[:old]
        self._row_array = rows

    @property
    def matrix(self) -> sp.csr_matrix:
        """The labelled rows as a float64 CSR matrix (made from ``X`` when first read after a change)."""
        if self._matrix is None:
            self._matrix = sp.csr_matrix(self.X[self.rows], dtype=np.float64)
        return self._matrix

    def _stored(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # (a retrain needs only K and B: the labelled rows' values are copied when someone reads
        # the coefficients, not at every new row)
        matrix = self.matrix
        nnz = int(matrix.indptr[n])
        return matrix.indptr[: n + 1], matrix.indices[:nnz], matrix.data[:nnz]

    def column(self, row: int) -> np.ndarray:
        """``X @ x_row + offset`` over all records (float64, a new array)."""
        return self._column_into(row, np.zeros(self.X.shape[0]))

    def _column_into(self, row: int, out: np.ndarray) -> np.ndarray:
        """:meth:`column` written into ``out`` (zeros, contiguous float64)."""
        start, stop = self._bounds[row], self._bounds[row + 1]
        k = stop - start
        if k:
            Tp, Tj, Tx = self._T
            if _kernels is not None:  # the loop below's sums, compiled, without building its operands
                _kernels.kernel_column(Tp, Tj, Tx, self._columns[start:stop], self._values[start:stop], out)
            elif _csc_matvec is None:
                X = self.X
                values = X.data[start:stop].astype(np.float64)
                out += sp.csr_matrix((Tx, Tj, Tp), shape=(X.shape[1], X.shape[0]))[self._row_indices[start:stop]].T @ values
            else:
                # The row's k columns, descending, as a CSC matrix of 2k - 1 columns whose even
                # columns are its k columns of X (their values in T) and whose odd columns run
                # from the end of one to the start of the next, which lies before it: they are
                # empty, and the product with the row's values (0 at the odd columns) touches
                # only the stored values of the k columns (the sum of their document
                # frequencies, not every value of X).
                pointers = self._spans.take(self._columns[start:stop][::-1], axis=0).reshape(-1)
                weights = np.zeros(2 * k - 1)
                weights[0::2] = self._values[start:stop][::-1]
                _csc_matvec(out.shape[0], 2 * k - 1, pointers, Tj, Tx, weights, out)
        out += self.offset
        return out

    def extend(self, rows) -> None:
        """Append these record indices (not yet in the matrix) as rows and columns."""
        rows = [int(row) for row in rows]
        if not rows:
            return
        j = len(self.rows)
        self._grow_block(j + len(rows))
        B, K, row_array = self._B, self._K, self._row_array
        for row in rows:
            column = B[:, j]
            column.fill(0.0)
            self._column_into(row, column)
            row_array[j] = row
            dots = K[j, : j + 1]  # the new row of K: the column's entries at the labelled rows
            np.take(column, row_array[: j + 1], out=dots, mode="clip")
            K[:j, j] = dots[:j]
            self.rows.append(row)
            j += 1
        self._matrix = None

    def products(self, position: int) -> np.ndarray:
        """``X @ x`` over all records for the ``position``-th labelled row ``x`` (its kept column, a new array).

        Records with identical rows get identical values, as in :meth:`margins`.
        """
        if not 0 <= position < len(self.rows):
            raise IndexError(f"labelled row {position} of {len(self.rows)}")
        return self._same_for_duplicates(self._B[:, position] - self.offset)

    def margins(self, beta: np.ndarray) -> np.ndarray:
        """``B @ beta`` for the first ``len(beta)`` labelled rows: ``X @ coef(beta) + offset * sum(beta)``."""
        n = beta.shape[0]
        if n > len(self.rows):
            raise ValueError(f"{n} coefficients for {len(self.rows)} rows")
        if n == 0:
            return np.zeros(self.X.shape[0])
        return self._same_for_duplicates(self._B[:, :n].dot(beta))  # (.dot: @'s BLAS product, without its dispatch)

    def _same_for_duplicates(self, values: np.ndarray) -> np.ndarray:
        """``values`` (one per record, changed in place) with each duplicate row given its original's value."""
        if self._duplicates.shape[0]:
            values[self._duplicates] = values[self._originals]
        return values


def _duplicate_rows(X: sp.csr_matrix, transposed=None) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``X`` equal to an earlier row, and that earlier row (bit for bit).

    ``transposed``: the CSR arrays of ``X.T`` in float64 (``ScoringGram`` keeps them), with which
    the compiled code computes the rows' keys without a float64 copy of ``X``. Equal rows get
    equal keys whichever way they are summed; rows with equal keys are compared value by value.
    """
    n = X.shape[0]
    if n < 2:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    weights = np.random.default_rng(20261126).uniform(0.5, 1.5, X.shape[1])
    if transposed is not None and _kernels is not None:
        key = np.zeros(n)
        Tp, Tj, Tx = transposed
        _kernels.kernel_column(Tp, Tj, Tx, np.arange(X.shape[1], dtype=Tp.dtype), weights, key)
    else:
        key = np.asarray(X @ weights, dtype=np.float64).ravel()
    order = np.argsort(key, kind="stable")
    same = np.flatnonzero(key[order[1:]] == key[order[:-1]])
    duplicates, originals = [], []
    first = None
    for k in same:
        a, b = int(order[k]), int(order[k + 1])
        if first is None or key[a] != key[first]:
            first = a
        sa, ea, sb, eb = X.indptr[first], X.indptr[first + 1], X.indptr[b], X.indptr[b + 1]
        if ea - sa == eb - sb and np.array_equal(X.indices[sa:ea], X.indices[sb:eb]) and np.array_equal(X.data[sa:ea], X.data[sb:eb]):
            duplicates.append(b)
            originals.append(first)
    return np.array(duplicates, dtype=np.intp), np.array(originals, dtype=np.intp)
