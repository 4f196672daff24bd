"""Ranking: the inclusion classifier and the active-learning loop.

:class:`InclusionClassifier` is a scikit-learn classifier (logistic
regression with class weighting for reviews where 1-5 % of records are
included). :class:`ActiveLearner` holds one review's feature matrix and
labels, retrains as decisions arrive and says which record to screen next;
:func:`rank` is the same thing without state, for callers that keep their own.

Retraining rule (``retrain_every="auto"``)
------------------------------------------
One retrain-and-rank step costs time proportional to the number of
records (scoring is a sparse matrix-vector product; training only sees the
labelled rows). The classifier is therefore retrained after every decision
while there are at most 100 labels or at most 100,000 records; beyond that,
every ``k = min(ceil(n_records / 100,000), ceil(n_labels / 100))``
decisions, so a 1,000,000-record review retrains every 10 decisions once
1,000 records are labelled. An integer ``retrain_every`` fixes ``k``.

Solver
------
The default classifier (:data:`SCREENING_CLASSIFIER`) is solved by
:mod:`ldnscreen.logistic` while at most ``max_kernel_rows`` (400) records are
labelled: Newton's method over the labelled rows, exact, warm-started from the
previous solution, with the labelled rows' Gram matrix grown one row per new
label and no scikit-learn input validation per step (a few tenths of a
millisecond per retrain-and-rank step on a 400-record review, against about
3 ms through scikit-learn and liblinear). While ``n_records * max_kernel_rows``
is at most 8,000,000 (about 20,000 records), each view also keeps every
record's kernel row against the labelled ones
(:class:`~ldnscreen.logistic.ScoringGram`): a new label adds one column,
computed from the columns that record uses, and scoring all records is one
dense product instead of a sparse one over the whole matrix. Beyond 400
labels the default classifier goes to liblinear directly (the same inputs as
scikit-learn's ``_fit_liblinear``, without its per-fit checks); any other
classifier is cloned once and refitted through scikit-learn.

Cold start
----------
Until both an inclusion and an exclusion are labelled, records are ordered by
the criteria prior (:class:`~ldnscreen.prior.CriteriaPrior`) when one is
given, otherwise by a seeded random order. After that the score is
``w * prior + (1 - w) * p(included)`` with ``w = k / (k + n_labels)``
(``prior_strength`` = k) so the classifier takes over as labels grow.

Two views
---------
By default (``body_view=0.5``) two models are trained on every retrain: one on
the full features (whole text plus the title field) and one on the whole-text
columns alone, renormalised; the score averages their log-odds. A title field
helps on some reviews and misleads on others (on the shared reviews it was
worth +0.24 WSS@95 on one and cost 0.10 on another); the average of the two
views cut the largest shortfall against ASReview from -0.10 to -0.05 WSS@95
and left the mean unchanged (``benchmarks/RESULTS.md``). The second model
costs a second, equally cheap fit.

Which view to trust more is learnt as the review goes (``view_learning_rate``,
Hedge; Freund and Schapire 1997): when a record is labelled, each view is
charged the log-loss its last prediction had for that label, and the body
view's weight becomes ``0.2 + 0.6 * expit(-eta * (L_body - L_full))`` over the
summed losses: a Hedge weight mixed with a fixed share of each view, which
nears 0.2 or 0.8 as the evidence grows and never sticks there. On the shared
reviews online weighting added +0.010 WSS@95 on average to the fixed halves
(better on 12 of 16, with and without keywords alike); the mixing, in place of
clipping the Hedge weight to [0.2, 0.8], brought the worst review against
ASReview from -0.037 to -0.026 at -0.002 in the mean (session 4).

Nearest inclusions
------------------
The inclusions of a review often come in clusters (one drug, one outcome, one
study design) that a single linear model, fitted to all inclusions at once,
underrates until several of a cluster are found. Beside the model's log-odds
``m`` each record therefore keeps the mean ``s`` of its ``neighbour_k`` (3)
largest cosine similarities to the labelled inclusions (full view; one kept
kernel row per new inclusion, so no extra product on small reviews), and the
score is ``expit(m + w sd_U(m) z_U(s))`` with ``w = neighbour_weight`` (0.25)
and ``U`` the unscreened records: ranked by ``z_U(m) + w z_U(s)``. The view
weights and their losses use the models' own log-odds. In the lab it added
+0.007 WSS@95 on the shared reviews (with keywords and without; +0.005 and
+0.009 on five further seeds, +0.004 at the abstract level), most of it on
the reviews whose inclusions cluster (calcium channel blockers +0.051, opioids
+0.042), and cost antihistamines 0.022 (``benchmarks/RESULTS.md``, session 6).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ldnscreen.criteria import Criteria
from ldnscreen.features import ONCE_COLUMN_PREFIX, TextFeatures, _normalise_rows
from ldnscreen.logistic import LabelledGram, ScoringGram, costs_from_counts, fit_logistic, newton_kernel
from ldnscreen.prior import CriteriaPrior
from ldnscreen.query import query as run_query
from ldnscreen.query import ranked, resolve_rng
from ldnscreen.records import Record

__all__ = ["InclusionClassifier", "ActiveLearner", "rank", "retrain_interval", "KERNEL_SOLVER"]

#: ``InclusionClassifier(solver=KERNEL_SOLVER)`` solves liblinear's objective exactly with
#: :func:`ldnscreen.logistic.newton_kernel`.
KERNEL_SOLVER = "kernel-newton"


class InclusionClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression for screening, weighted for rare inclusions.

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularisation strength.
    class_weight : "balanced", dict or None, default="balanced"
        Class weights; ``"balanced"`` weighs each class by the inverse of its
        frequency, so 2 % inclusions weigh as much as 98 % exclusions.
    solver : str, default="liblinear"
        Solver of :class:`sklearn.linear_model.LogisticRegression`, or
        ``"kernel-newton"``: the same objective as liblinear (intercept
        regularised like a feature), solved exactly by Newton's method over
        the labelled rows (:mod:`ldnscreen.logistic`); with up to
        ``max_kernel_rows`` training rows it is faster than liblinear, above
        that liblinear (with ``dual`` and ``tol``) fits instead.
    max_iter : int, default=1000
        Iteration limit.
    inclusion_boost : float, default=1.0
        Multiplies the weight of the included class after ``class_weight``
        (with ``"balanced"``: a weight that follows the review's prevalence,
        times this factor).
    dual : bool, default=False
        Solve the dual problem (liblinear, L2 penalty only): faster when there
        are far fewer labelled records than features, as in screening.
    tol : float, default=1e-4
        Stopping tolerance. On the 16 shared reviews, ``dual=True, tol=1e-2``
        gave the same top-50 rankings as the primal problem at ``tol=1e-4``
        for 0.57x the processor time (``benchmarks/RESULTS.md``), so
        :data:`SCREENING_CLASSIFIER` falls back to that above
        ``max_kernel_rows``; the estimator's own defaults solve the problem
        exactly. Not used by ``solver="kernel-newton"``, which always iterates
        to a relative gradient norm of :data:`ldnscreen.logistic.TOL`.
    random_state : int, RandomState or None, default=None
        Used by the liblinear solver's coordinate order.
    max_kernel_rows : int, default=400
        Largest training set that ``solver="kernel-newton"`` solves itself
        (its cost grows with the cube of the number of rows). Retraining on
        ``cohen2006_aceinhibitors`` with 2 % new labels per retrain it became
        slower than liblinear's dual at 1e-2 between 600 and 800 labelled
        rows, but with one new label per retrain, half of them inclusions
        (``benchmarks/retrain.py``), already at 500.

    Attributes
    ----------
    model_ : LogisticRegression or None
        The fitted liblinear model (``None`` when the kernel solver fitted).
    classes_ : ndarray
        Class labels.
    coef_, intercept_ : ndarray
        Coefficients of the fitted model.

    Examples
    --------
    >>> from ldnscreen.features import TextFeatures
    >>> docs = ["naltrexone fibromyalgia trial", "naltrexone crps case", "rats opioid", "mice opioid"]
    >>> X = TextFeatures(min_df=1).fit_transform(docs)
    >>> clf = InclusionClassifier().fit(X, [1, 1, 0, 0])
    >>> clf.predict(X).tolist()
    [1, 1, 0, 0]
    >>> bool(clf.predict_proba(X)[0, 1] > 0.5)
    True
    >>> exact = InclusionClassifier(solver="kernel-newton").fit(X, [1, 1, 0, 0])
    >>> exact.predict(X).tolist()
    [1, 1, 0, 0]
    """

    def __init__(self, C: float = 1.0, class_weight="balanced", solver: str = "liblinear", max_iter: int = 1000,
                 inclusion_boost: float = 1.0, dual: bool = False, tol: float = 1e-4, random_state=None,
                 max_kernel_rows: int = 400):
        self.C = C
        self.class_weight = class_weight
        self.inclusion_boost = inclusion_boost
        self.solver = solver
        self.max_iter = max_iter
        self.dual = dual
        self.tol = tol
        self.random_state = random_state
        self.max_kernel_rows = max_kernel_rows

    def fit(self, X, y, sample_weight=None) -> "InclusionClassifier":
        """Fit on a (sparse) feature matrix and 0/1 labels; returns ``self``."""
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=(np.float64, np.float32))
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y")
        if y_type != "binary":
            raise ValueError(f"Only binary classification is supported. The type of the target is {y_type}.")
        if np.unique(y).size < 2:
            raise ValueError(
                f"InclusionClassifier needs both an inclusion and an exclusion; the data contains only one class: {y[0]!r}"
            )
        class_weight = self.class_weight
        classes = np.unique(y)
        if self.inclusion_boost != 1.0:
            weights = dict(zip(classes, compute_class_weight(class_weight, classes=classes, y=y)))
            weights[classes[-1]] *= self.inclusion_boost
            class_weight = weights
        if self.solver == KERNEL_SOLVER and X.shape[0] <= self.max_kernel_rows:
            if not isinstance(class_weight, dict):
                # as liblinear computes them
                class_weight = dict(zip(classes, compute_class_weight(class_weight, classes=classes, y=y, sample_weight=sample_weight)))
            positive = y == classes[1]
            cost = self.C * np.where(positive, class_weight.get(classes[1], 1.0), class_weight.get(classes[0], 1.0))
            if sample_weight is not None:
                sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
                with np.errstate(invalid="ignore"):  # a class of zero total weight has weight inf
                    cost = np.where(sample_weight > 0, cost * sample_weight, 0.0)
            coef, intercept, n_iter = fit_logistic(X, np.where(positive, 1.0, -1.0), cost, max_iter=self.max_iter)
            _set_solution(self, coef, intercept, n_iter, classes)
            return self
        self.model_ = LogisticRegression(
            C=self.C,
            class_weight=class_weight,
            solver="liblinear" if self.solver == KERNEL_SOLVER else self.solver,
            max_iter=self.max_iter,
            dual=self.dual,
            tol=self.tol,
            random_state=self.random_state,
        ).fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.model_.classes_
        self.coef_ = self.model_.coef_
        self.intercept_ = self.model_.intercept_
        self.n_iter_ = self.model_.n_iter_
        return self

    def decision_function(self, X) -> np.ndarray:
        """Signed distance to the decision boundary (log-odds of inclusion for two classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=False)
        if self.model_ is not None:
            return self.model_.decision_function(X)
        return np.asarray(X @ self.coef_[0].astype(X.dtype), dtype=np.float64).ravel() + self.intercept_[0]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=False)
        if self.model_ is not None:
            return self.model_.predict_proba(X)
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        """Most probable class."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=False)
        if self.model_ is not None:
            return self.model_.predict(X)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_class = False  # screening is include/exclude
        return tags


#: The classifier :class:`ActiveLearner` uses when given none. Inclusions weigh 10x their
#: balanced weight (as ASReview's elas_u4 weighs its relevant class about 10x beyond balance;
#: against the balanced weight, on the 16 shared reviews: WSS@95 +0.006, better on 11 of 16,
#: benchmarks/RESULTS.md). Up to ``max_kernel_rows`` labels the learner solves the model
#: exactly with :mod:`ldnscreen.logistic` (warm-started, without scikit-learn's per-fit
#: validation); above that liblinear's dual problem at a loose tolerance, which ranked like the
#: exact fit at about half the processor time of its primal problem.
SCREENING_CLASSIFIER = InclusionClassifier(solver=KERNEL_SOLVER, dual=True, tol=1e-2, inclusion_boost=10.0)

try:  # the solver call inside LogisticRegression.fit, without its per-fit input validation
    from sklearn.svm._base import _fit_liblinear
except ImportError:  # pragma: no cover - private function moved: LogisticRegression.fit
    _fit_liblinear = None


def _refit_liblinear(classifier: InclusionClassifier, X, y: np.ndarray, counts) -> None:
    """What ``classifier.fit(X, y)`` does for 0/1 labels of both classes, without re-validating them.

    The learner built ``X`` (CSR, float) and ``y`` itself; scikit-learn's
    checks of them cost more than liblinear's solve on a few hundred rows.
    The fitted attributes are those of the kernel solver (``model_`` is
    ``None``), the numbers those of ``LogisticRegression(solver="liblinear")``.
    """
    neg, pos = costs_from_counts(counts[0], counts[1], 1.0, classifier.class_weight, classifier.inclusion_boost)
    coef, intercept, n_iter = _fit_liblinear(
        X, y, classifier.C, True, 1.0, {0: neg, 1: pos}, "l2", classifier.dual, 0,
        classifier.max_iter, classifier.tol, classifier.random_state,
    )
    _set_solution(classifier, coef, intercept, n_iter)


def _set_solution(classifier: InclusionClassifier, coef, intercept, n_iter, classes=(0, 1)) -> None:
    """The fitted attributes of ``classifier`` for a solution found without ``LogisticRegression``.

    ``coef`` of shape (n_features,) or (1, n_features); ``model_`` is ``None``.
    """
    classifier.model_ = None
    classifier.classes_ = np.asarray(classes)
    classifier.coef_ = np.atleast_2d(coef)
    classifier.intercept_ = np.ravel(intercept).astype(np.float64)
    classifier.n_iter_ = np.asarray(n_iter, dtype=np.int32).ravel()
    classifier.n_features_in_ = classifier.coef_.shape[1]


#: Most inclusions whose similarities to every record :func:`_similarities` computes together
#: (fewer on reviews of over 250,000 records: the block's products take 4 bytes per record and row).
_SIMILARITY_BLOCK = 128
_SIMILARITY_BLOCK_BYTES = 2**27


def _similarities(X: sp.csr_matrix, rows: Sequence[int]) -> list[np.ndarray]:
    """``X @ X[row]`` (float64, one array per row) for each of ``rows``, in one pass over ``X``.

    One inclusion alone: ``X`` times the row made dense (a sparse-sparse product
    is ~4x slower). Several: only the columns the rows use are taken from ``X``
    and multiplied by the rows as a dense block, so the matrix is read once for
    the block rather than once per row. Each value sums the same products in the
    same (column) order either way, so the results are equal to the last bit.

    Examples
    --------
    >>> X = sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [1.0, 1.0, 1.0]], dtype=np.float32))
    >>> [c.tolist() for c in _similarities(X, [0, 2])]
    [[5.0, 0.0, 3.0], [3.0, 3.0, 3.0]]
    """
    rows = list(rows)
    if len(rows) == 1:
        row = X[rows[0]]
        dense = np.zeros(X.shape[1], dtype=X.dtype)
        dense[row.indices] = row.data
        return [np.asarray(X @ dense, dtype=np.float64)]
    block = X[rows]
    used = np.unique(block.indices)
    D = np.ascontiguousarray(block[:, used].toarray().T)  # (columns used, rows): X's dtype
    products = X[:, used] @ D  # (records, rows), X's dtype like the one-row product
    return [products[:, j].astype(np.float64) for j in range(len(rows))]


def _insert_largest(top: np.ndarray, column: np.ndarray) -> None:
    """Merge ``column`` into each row's ascending ``k`` largest values ``top`` (n, k), in place."""
    # t_j <- max(t_j, min(t_j+1, c)), then the largest: t_k <- max(t_k, c)
    np.maximum(top[:, :-1], np.minimum(top[:, 1:], column[:, None]), out=top[:, :-1])
    np.maximum(top[:, -1], column, out=top[:, -1])


_THREADPOOLS = None
#: The process was started with one thread for OpenMP, OpenBLAS and MKL (as batch jobs and
#: ``benchmarks/`` drivers often are): the pools are already single, no need to look them up.
_ONE_THREAD_FROM_START = all(os.environ.get(name) == "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"))


def _single_threaded():
    """Context limiting BLAS/OpenMP pools to one thread.

    A retrain on a few hundred labelled rows is tiny; OpenBLAS threads
    spinning up for it made one step 10-20x slower on a shared 2-core machine
    (``benchmarks/RANKER_NOTES.md``). Looking the pools up (threadpoolctl, once
    per process) reads the path of every loaded shared library, ~10 ms with
    this package's imports; skipped when the environment already asked for one
    thread when the package was imported.
    """
    global _THREADPOOLS
    if _ONE_THREAD_FROM_START:
        return contextlib.nullcontext()
    if _THREADPOOLS is None:
        from threadpoolctl import ThreadpoolController

        _THREADPOOLS = ThreadpoolController()
    if all(library.num_threads == 1 for library in _THREADPOOLS.lib_controllers):
        # already limited (e.g. by the simulation): entering a limit costs ~20 us per step
        return contextlib.nullcontext()
    return _THREADPOOLS.limit(limits=1)


#: Records from which a retrain does the two views' work in two threads (when the process may use
#: two cores; see ``ActiveLearner._fit_and_score``): below, handing work to a thread saved nothing
#: measurable (``benchmarks/RESULTS.md``, session 12).
_PARALLEL_VIEWS_RECORDS = 10_000
_VIEW_POOL = None
_VIEW_POOL_LOCK = threading.Lock()


def _forget_view_pool() -> None:
    """In a forked child: the parent's pool and lock are not this process's (its worker thread does
    not exist here, and the lock may have been held by another thread at the fork)."""
    global _VIEW_POOL, _VIEW_POOL_LOCK
    _VIEW_POOL, _VIEW_POOL_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_view_pool)


def _spare_core() -> bool:
    """Whether this process may run on more than one core (``LDNSCREEN_THREADS=1``: one thread only)."""
    if os.environ.get("LDNSCREEN_THREADS", "").strip() == "1":
        return False
    try:
        return len(os.sched_getaffinity(0)) > 1
    except AttributeError:  # pragma: no cover - not Linux
        return (os.cpu_count() or 1) > 1


def _view_pool():
    """One worker thread, shared by the learners of the process, for one view's work of a retrain.

    A process forked from one that had the pool (``multiprocessing``'s default on Linux) makes its
    own (:func:`_forget_view_pool`): the parent's worker thread does not exist in the child, whose
    copy of the pool would queue work that never runs.
    """
    global _VIEW_POOL
    with _VIEW_POOL_LOCK:  # (two learners' first retrains at once make one pool)
        if _VIEW_POOL is None:
            _VIEW_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ldnscreen-view")
        return _VIEW_POOL


def retrain_interval(n_records: int, n_labels: int) -> int:
    """Decisions between retrains under ``retrain_every="auto"`` (see the module docstring).

    Examples
    --------
    >>> retrain_interval(5_000, 900), retrain_interval(1_000_000, 50), retrain_interval(1_000_000, 450)
    (1, 1, 5)
    """
    if n_labels <= 100 or n_records <= 100_000:
        return 1
    return max(1, min(math.ceil(n_records / 100_000), math.ceil(n_labels / 100)))


def _train_liblinear(classifier: InclusionClassifier, X, y: np.ndarray, counts) -> None:
    """:func:`_refit_liblinear` calling liblinear itself: the same inputs, so the same numbers.

    ``_fit_liblinear`` re-derives what the learner knows (label encoding, class
    weights, unit sample weights), about 0.7 ms a fit on a few hundred rows.
    Falls back to :func:`_refit_liblinear` where scikit-learn's private module
    is not there or ``X`` has 64-bit indices (which liblinear rejects).
    """
    if _train_wrap is None or X.indices.dtype != np.int32 or X.indptr.dtype != np.int32:
        _refit_liblinear(classifier, X, y, counts)
        return
    neg, pos = costs_from_counts(counts[0], counts[1], 1.0, classifier.class_weight, classifier.inclusion_boost)
    seed = check_random_state(classifier.random_state).randint(np.iinfo("i").max)  # as _fit_liblinear draws it
    _liblinear.set_verbosity_wrap(0)
    n_rows = X.shape[0]
    raw_coef, n_iter = _train_wrap(
        X, y.astype(np.float64), True, _liblinear_solver_type("ovr", "l2", "logistic_regression", classifier.dual),
        classifier.tol, 1.0, classifier.C, np.array([neg, pos]), classifier.max_iter, seed, 0.1, np.ones(n_rows),
    )
    if max(n_iter) >= classifier.max_iter:
        warnings.warn("Liblinear failed to converge, increase the number of iterations.", ConvergenceWarning)
    _set_solution(classifier, raw_coef[:, :-1], raw_coef[:, -1], n_iter)


try:  # liblinear's own entry point, as _fit_liblinear calls it
    from sklearn.svm import _liblinear
    from sklearn.svm._base import _get_liblinear_solver_type as _liblinear_solver_type

    _train_wrap = _liblinear.train_wrap
except ImportError:  # pragma: no cover - private module moved: _refit_liblinear
    _train_wrap = None


def _used_columns(X: sp.csr_matrix, mask: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """``X[:, columns]`` for the columns with a stored value in ``X``, and those columns.

    The same arrays as scipy's column indexing (stored values in the same order),
    by renumbering the column indices instead of indexing. ``mask`` is a scratch
    array of ``False`` over the columns, left as it was found.
    """
    mask[X.indices] = True  # the used columns, without a hash-based np.unique
    columns = np.flatnonzero(mask)
    number = np.cumsum(mask, dtype=X.indices.dtype)
    number -= 1
    mask[columns] = False
    used = sp.csr_matrix((X.data, number[X.indices], X.indptr), shape=(X.shape[0], columns.shape[0]), copy=False)
    return used, columns


def _leading_columns(X: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """``normalize(X[:, :n])`` with sorted indices: the first ``n`` columns, rows back to unit length.

    The same arrays as scipy's column slicing (each row's values in their
    order) and scikit-learn's normalisation kernel, without either's checks.
    """
    X = sp.csr_matrix(X)
    keep = X.indices < n
    before = np.zeros(keep.shape[0] + 1, dtype=X.indptr.dtype)  # (indptr's dtype holds nnz)
    np.cumsum(keep, out=before[1:])  # kept values before each position
    indptr = before[X.indptr]
    part = sp.csr_matrix((X.data[keep], X.indices[keep], indptr), shape=(X.shape[0], n), copy=False)
    part = _normalise_rows(part)
    part.sort_indices()
    return part


def _mean_sd(values: np.ndarray, n: int) -> tuple[float, float]:
    """Mean and (population) standard deviation of ``n`` float64 values, with fewer calls than ``std``."""
    mean = float(np.add.reduce(values)) / n
    deviations = values - mean
    return mean, math.sqrt(float(deviations.dot(deviations)) / n)


class _View:
    """One feature matrix the learner trains a model on, with that model's state."""

    __slots__ = ("X", "gram", "stale", "beta", "newton", "_coef", "_coef_gram", "estimator")

    def __init__(self, X):
        self.X = X
        self.gram: LabelledGram | None = None  # kernel solver: Gram matrix of the labelled rows
        self.stale = False  # a label was removed: rebuild the Gram matrix
        self.beta = np.zeros(0)  # kernel solver: the previous solution
        self.newton: dict = {}  # kernel solver: the Hessian factor newton_kernel carries over
        self._coef = None
        self._coef_gram = None  # kernel solver: coef is X_L^T beta of this Gram matrix, made when read
        self.estimator = None  # scikit-learn path of a second view: its own clone

    @property
    def coef(self):
        """Weight per feature of the view's model (in the dtype of ``X``), or ``None``."""
        if self._coef_gram is not None:
            self._coef = self._coef_gram.coef(self.beta).astype(self.X.dtype, copy=False)
            self._coef_gram = None
        return self._coef

    @coef.setter
    def coef(self, value):
        self._coef = value
        self._coef_gram = None


#: Range of the body view's weight under online weighting (``view_learning_rate``): each view
#: keeps at least this share (``lo`` of the body view, ``1 - hi`` of the full one).
_VIEW_WEIGHT_BOUNDS = (0.2, 0.8)

#: Largest ``n_records * max_kernel_rows`` for which the kernel solver scores records through
#: :class:`~ldnscreen.logistic.ScoringGram`: 8 bytes each per view (64 MB, 20,000 records at
#: 400 rows), plus a float64 copy of the view's matrix (12 bytes per stored value). The extra
#: memory is bounded by this limit whatever the review's size; up to it a retrain scores the
#: records by one dense product instead of a sparse one (session 11: 1.2-1.6x on reviews of
#: 14,000 records where a few hundred are screened, for about 160 MB more; the same orders).
_SCORING_GRAM_CELLS = 8_000_000


class ActiveLearner:
    """One review's active-learning loop: features, labels, retraining and the next record.

    Parameters
    ----------
    features : TextFeatures or None, default=None
        Unfitted feature extractor (cloned); ``None`` = ``TextFeatures()``.
    classifier : classifier or None, default=None
        Unfitted scikit-learn classifier with ``predict_proba`` (cloned for
        each retrain); ``None`` = :data:`SCREENING_CLASSIFIER`.
    query : str or callable, default="max"
        Query strategy, see :mod:`ldnscreen.query`.
    prior : CriteriaPrior, Criteria or None, default=None
        Cold-start prior, computed in :meth:`fit_features`; or call
        :meth:`set_prior_scores`.
    retrain_every : "auto" or int, default="auto"
        Decisions between retrains (see :func:`retrain_interval`).
    random_state : int, Generator, RandomState or None, default=None
        Seed for the tie-breaking order, the no-criteria cold start and the
        mixed strategy; resolved once.
    prior_strength : float, default=10.0
        ``k`` in the prior weight ``k / (k + n_labels)``.
    query_options : dict or None, default=None
        Extra options for the query strategy (``share``, ``explore``).
    body_view : float, default=0.5
        Weight of a second model trained on the whole-text columns alone
        (without the title field of :class:`~ldnscreen.features.TextFeatures`);
        the score is the inclusion probability of the weighted mean of the two
        models' log-odds. ``0`` trains the one model only. Whether words in
        the title should count more differs between reviews (it decided the
        shared reviews both ways); the two views hedge it (see "Two views").
        With ``view_learning_rate`` this is the starting weight.
    view_learning_rate : float, default=1.0
        ``eta`` of the online weighting of the two views (Hedge): each new
        label costs each view the log-loss of its last prediction for that
        record, and the body view's weight becomes
        ``0.2 + 0.6 * expit(logit(q) - eta * (L_body - L_full))`` over the
        summed losses (``q`` places ``body_view`` between 0.2 and 0.8: 0.5 for
        the default; a ``body_view`` outside them starts at 0.206 or 0.794).
        ``0`` keeps ``body_view`` fixed.
    neighbour_weight : float, default=0.25
        Weight of the similarity to the inclusions found so far beside the
        model's log-odds ``m``: each record keeps its ``neighbour_k`` largest
        cosine similarities (full view) to labelled inclusions, and records
        are scored by ``expit(m + w sd_U(m) z_U(s))``, ``s`` the mean of
        those similarities, ``z_U`` standardised and ``sd_U`` the standard
        deviation over the unscreened records (so ranked by
        ``z_U(m) + w z_U(s)``). A record close to a few inclusions rises even
        when it is far from what the model learnt from all of them (see
        "Nearest inclusions"). ``0`` ranks by the model alone.
    neighbour_k : int, default=3
        How many of a record's most similar inclusions are averaged (while
        fewer are found, the missing ones count as 0).

    Attributes
    ----------
    X_ : scipy.sparse.csr_matrix
        Feature matrix of all records.
    features_ : TextFeatures or None
        The fitted features (``None`` after ``set_matrix(X)`` without them).
    labels_ : numpy.ndarray of int8
        1 included, 0 excluded, -1 not labelled.
    classifier_ : classifier or None
        The last fitted classifier (``None`` until both classes are labelled).
    coef_ : numpy.ndarray or None
        Its weight per feature when it is linear (used for scoring and
        :meth:`top_terms`).
    prior_scores_, model_scores_ : numpy.ndarray or None
        Prior and classifier scores; :meth:`scores` blends them.
    tiebreak_ : numpy.ndarray
        Seeded random key per record that orders equal scores.

    Examples
    --------
    >>> docs = ["low-dose naltrexone fibromyalgia trial", "naltrexone crps case report",
    ...         "opioid use in rats", "mice and morphine", "low-dose naltrexone pain pilot",
    ...         "statins in rats"]
    >>> learner = ActiveLearner(features=TextFeatures(min_df=1), random_state=0)
    >>> learner = learner.fit_features(docs)
    >>> learner.label(0, 1)
    >>> learner.label(2, 0)
    >>> learner.next(n=2)
    [4, 1]
    >>> [term for term, weight in learner.top_terms(4, k=3)]
    ['dose', 'dose naltrexone', 'low']
    """

    def __init__(
        self,
        features: TextFeatures | None = None,
        classifier=None,
        query="max",
        prior: CriteriaPrior | Criteria | None = None,
        retrain_every="auto",
        random_state=None,
        prior_strength: float = 10.0,
        query_options: Mapping | None = None,
        body_view: float = 0.5,
        view_learning_rate: float = 1.0,
        neighbour_weight: float = 0.25,
        neighbour_k: int = 3,
    ):
        self.features = features
        self.classifier = classifier
        self.query = query
        self.prior = prior
        self.retrain_every = retrain_every
        self.random_state = random_state
        self.prior_strength = prior_strength
        self.query_options = query_options
        self.body_view = body_view
        self.view_learning_rate = view_learning_rate
        self.neighbour_weight = neighbour_weight
        self.neighbour_k = neighbour_k
        self.X_ = None

    # ------------------------------------------------------------------ setup
    def fit_features(self, records: Sequence[Record | str]) -> "ActiveLearner":
        """Fit the feature extractor on ``records`` and compute the prior, if any; returns ``self``."""
        records = list(records)
        self.features_ = clone(self.features) if self.features is not None else TextFeatures()
        X = self.features_.fit_transform(records)
        self._start(X)
        prior = CriteriaPrior(self.prior) if isinstance(self.prior, Criteria) else self.prior
        if prior is not None:
            self.prior_vector_ = prior.query_vector(self.features_)
            self.set_prior_scores(prior.scores(records, X, self.features_))
        return self

    def set_matrix(self, X, features: TextFeatures | None = None, records: Sequence[Record | str] | None = None) -> "ActiveLearner":
        """Use a precomputed (cached) feature matrix; returns ``self``.

        Parameters
        ----------
        X : sparse matrix of shape (n_records, n_features)
            E.g. from :func:`ldnscreen.features.load_matrix`.
        features : TextFeatures, optional
            The fitted features that produced ``X`` (e.g. from
            :meth:`TextFeatures.from_bytes`); needed for :meth:`top_terms`
            and for the criteria prior.
        records : sequence of Record or str, optional
            The records of ``X``; with ``features`` and a ``prior``, the prior
            scores are computed as in :meth:`fit_features`. Otherwise pass
            them to :meth:`set_prior_scores`.
        """
        self.features_ = features
        self._start(X)
        prior = CriteriaPrior(self.prior) if isinstance(self.prior, Criteria) else self.prior
        if features is not None and prior is not None:
            self.prior_vector_ = prior.query_vector(features)
            if records is not None:
                self.set_prior_scores(prior.scores(list(records), self.X_, features))
        return self

    def _start(self, X) -> None:
        X = sp.csr_matrix(X)
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float32)
        n = X.shape[0]
        self.X_ = X
        self.rng_ = resolve_rng(self.random_state)
        self.tiebreak_ = self.rng_.permutation(n)
        self.labels_ = np.full(n, -1, dtype=np.int8)
        self.prior_scores_ = None
        self.prior_vector_ = None
        # a kernel fit of the first view not yet given to the estimator and coef_ (see _settle)
        self._pending_solution = None
        self._coef_deferred = False
        self._classifier = None
        self._coef = None
        self.model_scores_ = None
        self.n_labels_at_fit_ = 0
        self._changes_since_fit = 0
        self._names = None
        if self.classifier is not None and not hasattr(self.classifier, "predict_proba"):
            raise ValueError(f"classifier {type(self.classifier).__name__} has no predict_proba")
        weight, k = self.neighbour_weight, self.neighbour_k
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight < math.inf:
            raise ValueError(f"neighbour_weight must be a number of 0 or more, got {weight!r}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"neighbour_k must be a whole number of 1 or more, got {k!r}")
        # cloned once and refitted at every retrain: clone() inspects signatures, which
        # cost more than the fit itself on a small review
        self._estimator = clone(self.classifier if self.classifier is not None else SCREENING_CLASSIFIER)
        if "random_state" in self._estimator.get_params() and self._estimator.get_params()["random_state"] is None:
            # liblinear's coordinate order: seeded from the learner's one generator, or
            # the same seed would not give the same ranking twice
            draw = self.rng_.integers if isinstance(self.rng_, np.random.Generator) else self.rng_.randint
            self._estimator.set_params(random_state=int(draw(np.iinfo(np.int32).max)))
        self.n_fits_ = 0
        self._column_mask = np.zeros(X.shape[1], dtype=bool)
        # labelled record indices in labelling order, and counts per class (no O(n) scans per step)
        self._labelled: list[int] = []
        self._signs = np.zeros(64)  # +1 / -1 per labelled record, in labelling order (first len(_labelled))
        # online view weighting: each view's last log-odds, and per labelled record the log-loss
        # each view's prediction for it had when it was labelled (summed in _view_loss)
        self.body_weight_ = float(self.body_view)
        self._view_margins: tuple[np.ndarray, np.ndarray] | None = None
        self._view_losses: dict[int, tuple[float, float]] = {}
        self._view_loss = np.zeros(2)
        self._counts = [0, 0]
        # exact kernel solver: Gram matrix of the labelled rows, kept across retrains
        estimator = self._estimator
        self._kernel = type(estimator) is InclusionClassifier and estimator.solver == KERNEL_SOLVER
        self._views = [_View(X)]
        self._body = None  # the second view, made at the first fit
        self._body_done = False
        # nearest inclusions: per record its neighbour_k largest similarities to labelled
        # inclusions (ascending), from the first _neighbours_seen labelled records
        self._neighbours: np.ndarray | None = None
        self._neighbours_seen = 0
        self._neighbour_extra: list[int] = []  # records relabelled as inclusions, merged at the next fit

    def _check_started(self) -> None:
        if self.X_ is None:
            raise RuntimeError("call fit_features(records) or set_matrix(X) first")

    def set_prior_scores(self, prior_scores) -> "ActiveLearner":
        """Cold-start scores in [0, 1], one per record (e.g. :meth:`CriteriaPrior.scores`)."""
        self._check_started()
        prior_scores = np.asarray(prior_scores, dtype=np.float64).ravel()
        if prior_scores.shape[0] != self.X_.shape[0]:
            raise ValueError(f"{prior_scores.shape[0]} prior scores for {self.X_.shape[0]} records")
        self.prior_scores_ = prior_scores
        return self

    # ------------------------------------------------------------------ labels
    def _index(self, index) -> int:
        index = int(index)
        if not 0 <= index < self.X_.shape[0]:
            raise IndexError(f"record index {index} out of range 0..{self.X_.shape[0] - 1}")
        return index

    def label(self, index: int, y: int) -> None:
        """Record a decision: ``y=1`` included, ``y=0`` excluded (relabelling replaces)."""
        self._check_started()
        index = self._index(index)
        if y not in (0, 1):
            raise ValueError(f"label must be 0 or 1, got {y!r}")
        old = int(self.labels_[index])
        if old != y:
            if old < 0:
                self._labelled.append(index)
                self._set_sign(len(self._labelled) - 1, y)
                self._score_views(index, y)
            else:
                self._counts[old] -= 1
                position = self._labelled.index(index)
                self._set_sign(position, y)
                self._forget_view_loss(index)
                if y == 0:  # an inclusion no longer: the nearest inclusions are recomputed
                    self._neighbours = None
                elif position < self._neighbours_seen:  # a new inclusion among the records merged
                    self._neighbour_extra.append(index)
            self._counts[y] += 1
            self.labels_[index] = int(y)
            self._changes_since_fit += 1

    def unlabel(self, index: int) -> None:
        """Undo the decision on one record (it returns to the queue)."""
        self._check_started()
        index = self._index(index)
        old = int(self.labels_[index])
        if old != -1:
            self._counts[old] -= 1
            position = self._labelled.index(index)
            del self._labelled[position]
            n = len(self._labelled)
            self._signs[position:n] = self._signs[position + 1 : n + 1].copy()
            self._forget_view_loss(index)
            if old == 1:  # an inclusion undone: the nearest inclusions are recomputed
                self._neighbours = None
            elif position < self._neighbours_seen:
                self._neighbours_seen -= 1
            for view in self._views:
                view.stale = True
            self.labels_[index] = -1
            self._changes_since_fit += 1

    def _set_sign(self, position: int, y: int) -> None:
        """Keep the sign of the ``position``-th labelled record (see :meth:`_kernel_targets`)."""
        if position >= self._signs.shape[0]:
            signs = np.zeros(2 * position + 2)
            signs[: self._signs.shape[0]] = self._signs
            self._signs = signs
        self._signs[position] = 1.0 if y == 1 else -1.0

    def _score_views(self, index: int, y: int) -> None:
        """Charge each view the log-loss its last prediction had for this new label."""
        if self._view_margins is None or not self.view_learning_rate:
            return
        sign = 1.0 if y == 1 else -1.0
        losses = tuple(float(np.logaddexp(0.0, -sign * margins[index])) for margins in self._view_margins)
        self._view_losses[index] = losses
        self._view_loss += losses

    def _forget_view_loss(self, index: int) -> None:
        losses = self._view_losses.pop(index, None)
        if losses is not None:
            self._view_loss -= losses

    def _body_weight(self) -> float:
        """The body view's weight now: ``body_view``, moved by the views' losses so far (Hedge).

        The Hedge weight is mixed with a fixed share of each view (``w = lo + (hi - lo) h``
        for the bounds ``(lo, hi)`` of :data:`_VIEW_WEIGHT_BOUNDS`), so the weight nears a
        bound as the evidence for one view grows but never sticks to it; ``h`` starts where
        ``body_view`` lies between the bounds.
        """
        prior = float(self.body_view)
        if not self.view_learning_rate or not 0.0 < prior < 1.0:
            return prior
        low, high = _VIEW_WEIGHT_BOUNDS
        start = min(max((prior - low) / (high - low), 0.01), 0.99)
        difference = self.view_learning_rate * float(self._view_loss[1] - self._view_loss[0])
        return low + (high - low) * float(expit(math.log(start / (1.0 - start)) - difference))

    @property
    def n_labels(self) -> int:
        """Number of labelled records."""
        self._check_started()
        return self._counts[0] + self._counts[1]

    @property
    def labels(self) -> dict[int, int]:
        """Current labels as ``{index: 0 or 1}``."""
        self._check_started()
        labelled = np.flatnonzero(self.labels_ >= 0)
        return {int(i): int(self.labels_[i]) for i in labelled}

    @property
    def unlabeled_mask(self) -> np.ndarray:
        """``True`` for records not yet labelled."""
        self._check_started()
        return self.labels_ < 0

    # ------------------------------------------------------------------ training
    def _interval(self) -> int:
        if self.retrain_every == "auto":
            return retrain_interval(self.X_.shape[0], self.n_labels)
        interval = int(self.retrain_every)
        if interval < 1:
            raise ValueError(f"retrain_every must be 'auto' or a positive int, got {self.retrain_every!r}")
        return interval

    def _both_classes(self) -> bool:
        return self._counts[0] > 0 and self._counts[1] > 0

    def retrain_due(self) -> bool:
        """Whether :meth:`next` would retrain now."""
        self._check_started()
        if not self._both_classes():
            return False
        if self._classifier is None:  # (not classifier_, which would settle a deferred solution)
            return True
        return self._changes_since_fit >= self._interval()

    def retrain(self) -> None:
        """Fit the classifier on the current labels and rescore every record now."""
        self._check_started()
        self._changes_since_fit = 0
        if not self._both_classes():
            self._pending_solution = None
            self._classifier = None
            self._coef = None
            self.model_scores_ = None
            return
        with _single_threaded():
            self._fit_and_score()

    def _text_columns(self) -> int | None:
        """How many leading columns of ``X_`` are the whole text; ``None`` without a title field."""
        features = self.features_
        vectorizer = getattr(features, "text_vectorizer_", None)
        if vectorizer is None or getattr(features, "title_vectorizer_", None) is None or not features.title_weight:
            return None
        n_text = getattr(features, "n_text_features_", None)  # (reading vocabulary_ may name every term)
        return n_text if n_text is not None else len(vectorizer.vocabulary_)

    def _body_view(self) -> "_View | None":
        """The whole-text view (without the title field), or ``None`` when there is none."""
        if not self._body_done:
            self._body_done = True
            n_text = self._text_columns() if self.body_view else None
            if n_text is not None:
                X_body = _leading_columns(self.X_, n_text)  # rows back to unit length
                self._body = _View(X_body)
                self._views.append(self._body)
        return self._body

    def _fit_and_score(self) -> None:
        classifier = self._estimator
        body = self._body_view()
        self.n_fits_ += 1
        self._pending_solution = None
        kernel = self._kernel and self.n_labels <= classifier.max_kernel_rows
        targets = self._kernel_targets() if kernel else None
        if body is not None and not kernel and body.estimator is None:
            body.estimator = clone(classifier)

        def fit(view: _View, estimator, defer: bool = False):
            if kernel:
                return self._fit_kernel(view, targets)
            view.gram = None  # too many labels for the kernel solver: free the Gram matrix
            return self._fit_sklearn(view, estimator, defer=defer)

        # On a large review the views' work overlaps in two threads (their compiled loops release
        # the GIL), with the same numbers as one after the other: the kernel fits are independent,
        # and liblinear fits one view after the other (its random generator is one per process)
        # while the other thread scores the full view's records.
        parallel = body is not None and self.X_.shape[0] >= _PARALLEL_VIEWS_RECORDS and _spare_core()
        pending, margin_body = [], None
        try:
            if parallel and kernel:
                pending.append(_view_pool().submit(fit, body, body.estimator))
                margin = fit(self._views[0], classifier)
                margin_body = pending[0].result()
            elif parallel:
                pending.append(_view_pool().submit(fit(self._views[0], classifier, defer=True)))
                margin_body = fit(body, body.estimator)
                margin = pending[0].result()
            else:
                margin = fit(self._views[0], classifier)
        except BaseException:
            wait(pending)  # (nothing left running on this learner's state)
            raise
        if self._pending_solution is None:
            self._coef = self._views[0].coef
        self._classifier = classifier
        self.n_labels_at_fit_ = self.n_labels
        if body is not None:
            if margin_body is None:
                margin_body = fit(body, body.estimator)
            if self.view_learning_rate:
                self._view_margins = (margin, margin_body)
            self.body_weight_ = weight = self._body_weight()
            margin = margin * (1.0 - weight)  # (a new array: the view's margins are kept above)
            margin += weight * margin_body
        if self.neighbour_weight:
            margin = self._add_neighbour_bonus(margin)
        self.model_scores_ = expit(margin, out=margin)

    def _neighbour_similarity(self) -> np.ndarray:
        """Each record's mean similarity to its ``neighbour_k`` most similar labelled inclusions.

        Kept between retrains: a new inclusion merges its similarities into
        each record's ``k`` largest (sorted insertion). Undoing or relabelling
        an inclusion recomputes them from the remaining inclusions (one
        product over the feature matrix per inclusion: ~35 ms at 100,000
        records, less when many are computed together, as when a review is
        reopened; see :func:`_similarities`); undoing an exclusion changes nothing.
        """
        k = int(self.neighbour_k)
        if self._neighbours is None:
            self._neighbours = np.zeros((self.X_.shape[0], k))
            self._neighbours_seen, self._neighbour_mean, self._neighbour_extra = 0, None, []
        top = self._neighbours
        labelled = self._labelled
        seen, self._neighbours_seen = self._neighbours_seen, len(labelled)
        new = np.flatnonzero(self._signs[seen : len(labelled)] > 0.0)  # the new inclusions' positions
        extra, self._neighbour_extra = self._neighbour_extra, []
        if not new.size and not extra and self._neighbour_mean is not None:
            return self._neighbour_mean
        gram = self._views[0].gram
        positions = (new + seen).tolist() + [labelled.index(index) for index in extra]
        others = []
        for position in positions:
            index = labelled[position]
            if isinstance(gram, ScoringGram) and position < gram.n and gram.rows[position] == index:
                _insert_largest(top, gram.products(position))  # the kept kernel row: X_ @ x_index at no cost
            else:
                others.append(index)
        block = max(1, min(_SIMILARITY_BLOCK, _SIMILARITY_BLOCK_BYTES // (4 * self.X_.shape[0])))
        for start in range(0, len(others), block):
            for column in _similarities(self.X_, others[start : start + block]):
                _insert_largest(top, column)
        self._neighbour_mean = top.sum(axis=1) / k if k > 1 else top[:, 0].copy()
        return self._neighbour_mean

    def _add_neighbour_bonus(self, margin: np.ndarray) -> np.ndarray:
        """``margin + w sd_U(margin) z_U(similarity)`` (see ``neighbour_weight``); a new array."""
        similarity = self._neighbour_similarity()
        pool = self.labels_ < 0
        n = int(np.count_nonzero(pool))
        if n < 2:
            return margin
        mean, spread = _mean_sd(similarity[pool], n)
        if spread <= 0.0:  # no inclusion yet, or nothing tells the records apart
            return margin
        scale = _mean_sd(margin[pool], n)[1] or 1.0
        bonus = similarity - mean
        bonus *= self.neighbour_weight * scale / spread
        return margin + bonus

    def _fit_sklearn(self, view: "_View", classifier, defer: bool = False):
        """Fit ``classifier`` through scikit-learn on the view's labelled rows; its log-odds of inclusion.

        With ``defer``, a function of no arguments that computes them (the fit is done).
        """
        X = view.X
        labelled = np.flatnonzero(self.labels_ >= 0)
        X_labelled, y_labelled = X[labelled], self.labels_[labelled].astype(np.int64)
        if type(classifier) is InclusionClassifier:
            # An L2-penalised logistic regression gives exactly 0 to a feature that is 0 in
            # every training row, so train on the columns the labelled records use (a few
            # 10,000s instead of up to millions: 2-4x faster) and put the weights back.
            X_used, columns = _used_columns(X_labelled, self._column_mask)
            if classifier.solver in ("liblinear", KERNEL_SOLVER) and _fit_liblinear is not None:
                _train_liblinear(classifier, X_used, y_labelled, self._counts)
            else:
                classifier.fit(X_used, y_labelled)
            coef = np.zeros(X.shape[1], dtype=X.dtype)
            coef[columns] = classifier.coef_.ravel()
            view.coef = coef
        else:
            classifier.fit(X_labelled, y_labelled)
            linear = hasattr(classifier, "coef_") and np.ndim(classifier.coef_) == 2 and classifier.coef_.shape[0] == 1
            view.coef = np.asarray(classifier.coef_, dtype=X.dtype).ravel() if linear else None
        positive = int(np.flatnonzero(classifier.classes_ == 1)[0])
        coef = view.coef

        def scores() -> np.ndarray:
            if coef is not None:
                # linear fast path: one sparse matrix-vector product, no input re-validation;
                # coefficients in the matrix's dtype, else scipy copies the whole float32
                # matrix to float64 on every step (12x slower, +8 bytes per stored value)
                margin = np.asarray(X @ coef, dtype=np.float64) + float(np.ravel(classifier.intercept_)[0])
                return margin if positive == 1 else -margin
            p = np.clip(classifier.predict_proba(X)[:, positive], 1e-15, 1 - 1e-15)
            return np.log(p) - np.log1p(-p)

        return scores if defer else scores()

    def _kernel_targets(self) -> tuple[np.ndarray, np.ndarray]:
        """Signs (+1 included, -1 excluded) and per-row costs of the labelled rows, in labelling order."""
        classifier = self._estimator
        s = self._signs[: len(self._labelled)].copy()  # (kept as labels arrive: no pass over the labels)
        cost_neg, cost_pos = costs_from_counts(
            self._counts[0], self._counts[1], classifier.C, classifier.class_weight, classifier.inclusion_boost
        )
        return s, np.where(s > 0.0, cost_pos, cost_neg)

    def _new_gram(self, X) -> LabelledGram:
        """The kept Gram matrix of a view: one that scores records too while that fits in memory."""
        rows = min(self._estimator.max_kernel_rows, X.shape[0])
        if X.shape[0] * rows <= _SCORING_GRAM_CELLS:
            return ScoringGram(X, offset=1.0, max_rows=rows)  # + the intercept feature
        return LabelledGram(X, offset=1.0)

    def _fit_kernel(self, view: "_View", targets: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Exact refit on the labelled rows of one view, warm-started, without scikit-learn's validation.

        Solves the objective of :meth:`InclusionClassifier.fit` (liblinear's) with
        :func:`ldnscreen.logistic.newton_kernel`; new labelled rows only add rows and
        columns to the view's Gram matrix, and the previous solution is the starting
        point. ``targets`` are :meth:`_kernel_targets` (computed when not given).
        Returns the log-odds of inclusion of every record: through the kept kernel rows
        of every record when the Gram matrix is a :class:`~ldnscreen.logistic.ScoringGram`
        (the view's coefficients are then computed only when read), else as ``X @ coef``.
        """
        classifier = self._estimator
        rows = self._labelled
        gram = view.gram
        if gram is None or view.stale:
            if gram is None:
                gram = view.gram = self._new_gram(view.X)
            gram.reset(rows)
            view.stale = False
            view.beta = np.zeros(0)
            view.newton = {}
        elif gram.n < len(rows):
            gram.extend(rows[gram.n :])
        n = gram.n
        s, cost = targets if targets is not None else self._kernel_targets()
        beta = np.zeros(n)  # warm start: the previous solution, 0 for new rows
        beta[: view.beta.shape[0]] = view.beta
        beta, n_iter = newton_kernel(gram.K, s, cost, beta, max_iter=classifier.max_iter, state=view.newton)
        view.beta = beta
        if isinstance(gram, ScoringGram):  # X_L^T beta only when someone reads view.coef (a simulation never does)
            view._coef, view._coef_gram = None, gram
            if view is self._views[0]:  # the estimator's fitted state too, given it when read (_settle)
                self._pending_solution = (view, gram, beta, n_iter)
                self._coef_deferred = True
            return gram.margins(beta)
        intercept = float(beta.sum())
        if view is self._views[0]:
            # fitted state of the estimator, as InclusionClassifier.fit would leave it
            coef = gram.coef(beta)
            view.coef = coef.astype(view.X.dtype, copy=False)
            _set_solution(classifier, coef, intercept, n_iter)
        else:
            view.coef = gram.coef(beta).astype(view.X.dtype, copy=False)
        margin = view.X @ view.coef
        margin = margin.astype(np.float64, copy=False)
        margin += intercept
        return margin

    def _settle(self) -> None:
        """Give the estimator (and ``coef_``) the deferred solution of the last kernel fit, if any.

        Scoring through a :class:`~ldnscreen.logistic.ScoringGram` needs no
        coefficient vector, and ``X_L^T beta`` over every column costs as much
        as the rest of a retrain on a small review; it is computed when
        ``coef_`` or ``classifier_`` is read.
        """
        pending, self._pending_solution = self._pending_solution, None
        if pending is not None:
            view, gram, beta, n_iter = pending
            intercept = float(beta.sum())
            coef = gram.coef(beta)
            narrow = coef.astype(view.X.dtype, copy=False)
            if view._coef_gram is gram and view.beta is beta:  # the view's own coefficients, still not made
                view.coef = narrow
            _set_solution(self._estimator, coef, intercept, n_iter)
            if self._coef_deferred:  # (unless coef_ was assigned since)
                self._coef = narrow
        self._coef_deferred = False

    @property
    def classifier_(self):
        """The last fitted classifier, or ``None`` (see the class docstring)."""
        self._settle()
        return self._classifier

    @classifier_.setter
    def classifier_(self, value) -> None:
        self._classifier = value

    @property
    def coef_(self) -> np.ndarray | None:
        """The fitted classifier's weight per feature, or ``None`` (see the class docstring)."""
        self._settle()
        return self._coef

    @coef_.setter
    def coef_(self, value) -> None:
        self._coef, self._coef_deferred = value, False

    # ------------------------------------------------------------------ ranking
    def scores(self) -> np.ndarray:
        """Current inclusion scores in [0, 1] for all records (retrains first if due).

        Before both classes are labelled: the prior, or 0.5 everywhere
        without one (the seeded tie-break order then decides).
        """
        return self._scores(copy=True)

    def _scores(self, copy: bool) -> np.ndarray:
        self._check_started()
        if self.retrain_due():
            self.retrain()
        if self.model_scores_ is None or not self._both_classes():
            if self.prior_scores_ is not None:
                return self.prior_scores_.copy()
            return np.full(self.X_.shape[0], 0.5)
        if self.prior_scores_ is None:
            return self.model_scores_.copy() if copy else self.model_scores_
        weight = self.prior_strength / (self.prior_strength + self.n_labels)
        return weight * self.prior_scores_ + (1.0 - weight) * self.model_scores_

    def next(self, n: int = 1) -> list[int]:
        """The next ``n`` unlabelled record indices to screen (retrains first if due)."""
        scores = self._scores(copy=False)
        if self.query == "max" and not self.query_options and n >= 0:
            # what query.max_query does, without re-checking arrays this class built
            return ranked(scores, np.flatnonzero(self.labels_ < 0), n, self.tiebreak_).tolist()
        options = dict(self.query_options or {})
        picks = run_query(scores, self.labels_ < 0, self.query, n, self.rng_, tiebreak=self.tiebreak_, **options)
        return [int(i) for i in picks]

    def ranking(self) -> np.ndarray:
        """All unlabelled record indices, highest score first (ties in the seeded order)."""
        scores = self._scores(copy=False)
        return ranked(scores, np.flatnonzero(self.labels_ < 0), None, self.tiebreak_)

    def top_terms(self, index: int, k: int = 5) -> list[tuple[str, float]]:
        """The terms that pushed this record up most, with their contribution.

        With a trained classifier the contribution of a term is its
        coefficient times the record's TF-IDF value; before that, its weight
        in the criteria document times the TF-IDF value. Title-field terms are
        merged with the same term of the whole text.

        Returns
        -------
        list of (str, float)
            Up to ``k`` terms with positive contribution, largest first;
            empty when no term names are known (``set_matrix`` without
            features) or nothing pushed the record up.
        """
        self._check_started()
        index = self._index(index)
        if self.features_ is None:
            return []
        if self.retrain_due():
            self.retrain()
        row = self.X_[index]
        if self.classifier_ is not None and self.coef_ is not None:
            weights = self.coef_.astype(np.float64)
            if self.classifier_.classes_[-1] != 1:
                weights = -weights
        elif self.prior_vector_ is not None:
            weights = np.asarray(self.prior_vector_.toarray(), dtype=np.float64).ravel()
        else:
            return []
        contributions = row.data.astype(np.float64) * weights[row.indices]
        if self._names is None:
            self._names = self.features_.get_feature_names_out()
        merged: dict[str, float] = {}
        for column, value in zip(row.indices, contributions):
            if value > 0:
                name = str(self._names[column]).removeprefix("title:")
                if name.startswith(ONCE_COLUMN_PREFIX):  # TextFeatures(once_terms="collapse")
                    name = "(words found in no other record)"
                merged[name] = merged.get(name, 0.0) + float(value)
        return sorted(merged.items(), key=lambda item: (-item[1], item[0]))[:k]


def rank(
    records: Sequence[Record | str],
    labels: Mapping[int | str, int],
    criteria: Criteria | None = None,
    random_state=None,
    **learner_options,
) -> np.ndarray:
    """Unlabelled records in the order to screen them, without keeping state.

    Parameters
    ----------
    records : sequence of Record or str
        All records of the review.
    labels : mapping of int or str to int
        Decisions so far, keyed by record index or :attr:`Record.id`;
        1 included, 0 excluded.
    criteria : Criteria or None, default=None
        Enables the criteria prior.
    random_state : int or None, default=None
        Seed of the tie-breaking order.
    **learner_options
        Passed to :class:`ActiveLearner`.

    Returns
    -------
    numpy.ndarray of int
        Indices of the unlabelled records, highest priority first.

    Raises
    ------
    KeyError
        For a label key that is neither an index nor a record id.

    Examples
    --------
    >>> docs = ["naltrexone fibromyalgia", "opioids in rats", "naltrexone for crps", "rats and mice"]
    >>> rank(docs, {0: 1, 1: 0}, features=TextFeatures(min_df=1), random_state=0).tolist()
    [2, 3]
    """
    records = list(records)
    ids = {r.id: i for i, r in enumerate(records) if isinstance(r, Record)}
    learner = ActiveLearner(prior=criteria, random_state=random_state, **learner_options)
    learner.fit_features(records)
    for key, y in labels.items():
        if isinstance(key, str):
            if key not in ids:
                raise KeyError(f"no record with id {key!r}")
            key = ids[key]
        learner.label(key, int(y))
    return learner.ranking()
