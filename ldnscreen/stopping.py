"""When is it safe to stop screening? Stopping rules with and without a recall guarantee.

Every function takes the screening labels **in the order the records were
screened** (1 = relevant/included, 0 = irrelevant/excluded) and ``n_total``,
the number of records in the review (screened and not yet screened).

Rules with a statistical guarantee
----------------------------------
* :class:`BuscarRule` (``"buscar"``): the stopping criterion of Callaghan &
  Müller-Hansen (2020), *Statistical stopping criteria for automated screening
  in systematic reviews*, Systematic Reviews 9:273,
  https://doi.org/10.1186/s13643-020-01521-4, as implemented in their package
  ``buscarpy`` (``calculate_h0``). Each run of most recently screened records
  (a "window", or urn) is treated as a sample drawn without replacement from
  the records that were still unscreened when the window began. The null
  hypothesis is that the target recall has been missed, i.e. that at least
  ``K_tar = floor(r / tau) - r + 1`` relevant records are still unscreened
  (``r`` relevant found so far, ``tau`` the target recall). For a window of
  ``n`` records containing ``k`` relevant, drawn from ``M`` records of which
  ``k + K_tar`` would be relevant under the null hypothesis, the p-value is the
  hypergeometric ``P(X <= k)``. The reported p-value is the **minimum over
  windows**, as in the paper and ``buscarpy``. Stop when ``p < 1 - confidence``.
* :class:`RandomSampleRule` (``"random:<start>"``): the random-sampling design
  of the same paper. After prioritised screening of ``start`` records, screen a simple random
  sample of the remaining records and test the same null hypothesis on that
  one sample (no minimum over windows). This keeps its guarantee however poor
  the ranking was; see :func:`random_sample_size_needed` and
  :func:`draw_random_sample`.

The guarantee of ``buscar`` rests on the assumption that records
screened in the windows are at least as likely to be relevant as those not yet
screened (true for any ranking that is better than random). Taking the
minimum over windows is a multiple comparison that this assumption is meant
to cover; ``tests/test_stopping.py`` and ``benchmarks/stopping_check.py``
measure the resulting error rate on synthetic rankings. Checking after every
record, with 2000 records, 10-100 relevant and 200 orders per ranking
quality, ``buscar`` at 95% confidence missed 95% recall in 10% of purely
random orders (bias 1) but in 0% of orders with bias 2, 5 or 20, where it
saved 6%, 16% and 30% of the screening; the random-sample design missed in
7%, 4.5%, 4.5% and 2%. With 10000 records and 20-300 relevant (100 orders
each) ``buscar`` missed in 22% of random orders and 0% of the others (saving
9%, 24% and 48%), the random-sample design in 4-5% throughout (see the
benchmark for the exact commands). So: use ``buscar`` when the ranking is
doing its job, and the random-sample design when in doubt.

Heuristics (NO guarantee)
-------------------------
:class:`KneeRule` (``"knee"``), :class:`ConsecutiveIrrelevantRule`
(``"consecutive:50"``) and :class:`ShareScreenedRule` (``"share:0.5"``) have
``guarantee = False``: they can stop with any recall, and no confidence level
attaches to them.

Which windows are evaluated
---------------------------
``buscarpy`` evaluates every window (the last 1, 2, ..., s records). Extending
a window backwards over an irrelevant record never increases its p-value (a
coupling argument: the population gains one irrelevant record and the sample
one draw), so the minimum is always reached at a window that is the whole
screened sequence or begins right after a relevant record. ldnscreen
evaluates only those ``r + 1`` windows, which gives the same minimum as
``buscarpy`` (tested against the full enumeration) at a fraction of the cost.
Windows that Hoeffding's tail bound shows cannot be the minimum are not
evaluated exactly either; the answer is still the exact minimum.
Appending an irrelevant record adds one draw to every window without
changing its population, so the p-value never increases along a run of
irrelevant records; :func:`first_stop` therefore finds the exact first record
at which ``buscar`` fires by checking one point per run and bisecting inside
the run that fires: O(r^2) hypergeometric evaluations instead of O(s^2).

Examples
--------
>>> labels = [1] * 100 + [0] * 900  # 1000 of 2000 records screened
>>> round(buscar_p_value(labels, n_total=2000), 4)
0.0211
>>> [r.name for r in parse_rules("buscar,knee,consecutive:50,share:0.5")]
['buscar:0.95:0.95', 'knee', 'consecutive:50', 'share:0.5']
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from scipy.special import rel_entr
from scipy.stats import hypergeom
from sklearn.utils import check_random_state

__all__ = [
    "StopCheck",
    "StoppingEstimate",
    "StoppingRule",
    "SupportsStoppingInputs",
    "BuscarRule",
    "RandomSampleRule",
    "KneeRule",
    "ConsecutiveIrrelevantRule",
    "ShareScreenedRule",
    "buscar_p_value",
    "random_sample_p_value",
    "random_sample_size_needed",
    "draw_random_sample",
    "knee_slope_ratio",
    "parse_rules",
    "first_stop",
    "evaluate_rules",
    "stopping_estimate",
    "describe_estimate",
    "simulated_screening_labels",
]


# ---------------------------------------------------------------------------
# values


@dataclass(frozen=True)
class StopCheck:
    """The answer of one stopping rule at one point of the screening.

    Parameters
    ----------
    stop : bool
        Whether the rule says screening may stop now.
    p_value : float or None
        The p-value of the null hypothesis "the target recall has been
        missed" for rules with a guarantee; ``None`` for heuristics.
    message : str
        One sentence a reviewer can read.
    """

    stop: bool
    p_value: float | None
    message: str


@dataclass(frozen=True)
class StoppingEstimate:
    """Recall so far and relevant records still unscreened, with intervals.

    Parameters
    ----------
    n_screened, n_total : int
        Records screened so far, and in the whole review.
    n_relevant_found : int
        Relevant records among those screened.
    estimated_remaining : int
        Point estimate of the relevant records not yet screened: the largest
        number not rejected at the 50% level (a median-type estimate).
    remaining_interval : tuple of int
        ``(0, upper)``: ``upper`` is the largest number of unscreened relevant
        records the data do not reject at the confidence level (a one-sided
        upper confidence bound). The lower end is 0: prioritised screening
        gives no valid evidence that relevant records remain.
    recall_estimate : float
        ``n_relevant_found / (n_relevant_found + estimated_remaining)``.
    recall_interval : tuple of float
        ``(lower, 1.0)``, the recall implied by ``remaining_interval``.
    target : float
        The target recall.
    confidence : float
        The confidence level.
    p_value : float
        The buscar p-value of "recall < target".
    safe_to_stop : bool
        ``p_value < 1 - confidence``; equivalently ``recall_interval[0] >= target``.
    rule : str
        The rule that produced the estimate, e.g. ``"buscar:0.95:0.95"``.
    """

    n_screened: int
    n_total: int
    n_relevant_found: int
    estimated_remaining: int
    remaining_interval: tuple[int, int]
    recall_estimate: float
    recall_interval: tuple[float, float]
    target: float
    confidence: float
    p_value: float
    safe_to_stop: bool
    rule: str


@runtime_checkable
class SupportsStoppingInputs(Protocol):
    """Anything (a review, a store) that can say what has been screened."""

    def stopping_inputs(self) -> tuple[Sequence[int], int]:
        """Return ``(labels_in_order, n_total)``."""


# ---------------------------------------------------------------------------
# validation and the hypergeometric core


def _as_labels(labels_in_order: Sequence[int], n_total: int) -> np.ndarray:
    y = np.asarray(labels_in_order, dtype=np.int64).ravel()
    if np.any((y != 0) & (y != 1)):
        raise ValueError("labels must be 0 (irrelevant) or 1 (relevant)")
    if int(n_total) != n_total or n_total < y.size:
        raise ValueError(f"n_total={n_total!r} must be an integer >= the {y.size} records screened")
    return y


def _check_fraction(value: float, name: str, *, allow_one: bool = True) -> Fraction:
    if not (0 < value < 1 or (allow_one and value == 1)):
        raise ValueError(f"{name} must be in (0, 1{']' if allow_one else ')'}, got {value!r}")
    return Fraction(str(value))


def _significance(confidence: float) -> float:
    """The p-value a test must fall below: ``1 - confidence``, nudged down by 1e-9 (relative).

    Computed from the decimal confidence exactly, then lowered a hair so that a
    p-value equal to ``1 - confidence`` up to floating-point noise (e.g. 0.05
    computed as 0.04999999999999999) never counts as a rejection.
    """
    return float(1 - _check_fraction(confidence, "confidence", allow_one=False)) * (1 - 1e-9)


def _remaining_to_miss(n_found: int, target_recall: float) -> int:
    """Smallest number of unscreened relevant records that makes recall < target.

    Recall is ``r / (r + K)``; it is below ``tau`` exactly when
    ``r + K > r / tau``, i.e. ``K >= floor(r / tau) - r + 1``. Computed with
    fractions so that e.g. ``19 / 0.95 = 20`` is not rounded down.
    """
    tau = _check_fraction(target_recall, "target_recall")
    return math.floor(Fraction(n_found) / tau) - n_found + 1


def _window_starts(y: np.ndarray) -> np.ndarray:
    """Starts of the windows that can give the minimum p-value (see module doc)."""
    starts = np.concatenate(([0], np.flatnonzero(y) + 1))
    return starts[starts < y.size]


def _min_window_p(y: np.ndarray, n_total: int, remaining: int, stop_below: float = 0.0) -> float:
    """Minimum over windows of P(X <= k) under H0 "at least ``remaining`` relevant unscreened".

    With ``stop_below > 0`` only the question "is the minimum below
    ``stop_below``?" is answered: the value returned is below ``stop_below``
    exactly when the minimum is, but is not necessarily the minimum itself.
    """
    s = y.size
    if remaining <= 0 or s == 0:
        return 1.0
    if remaining > n_total - s:  # not enough unscreened records to hold them: H0 impossible
        return 0.0
    starts = _window_starts(y)
    cum = np.concatenate(([0], np.cumsum(y)))
    k = cum[s] - cum[starts]
    population, draws = n_total - starts, s - starts
    relevant = k + remaining
    # The Chernoff-Hoeffding bound, which holds for sampling without replacement
    # (Hoeffding 1963, section 6), gives P(X >= k + 1) <= exp(-n KL(q || mu)) for
    # q = (k + 1) / n > mu = K / M, so P(X <= k) >= 1 - exp(-n KL(q || mu)). A window
    # whose bound is above the smallest exact p-value found cannot be the minimum,
    # so it is never evaluated exactly; the result is still the exact minimum.
    q = np.minimum((k + 1) / draws, 1.0)
    mu = relevant / population
    divergence = np.where(q > mu, rel_entr(q, mu) + rel_entr(1 - q, 1 - mu), 0.0)
    lower = -np.expm1(-draws * divergence) * (1 - 1e-12)
    # evaluate the windows most likely to be the minimum first (normal approximation)
    mean = draws * relevant / population
    spread = np.sqrt(np.maximum(mean * (1 - relevant / population) * (population - draws) / np.maximum(population - 1, 1),
                                1e-12))
    order = np.argsort((k + 0.5 - mean) / spread, kind="stable")
    best = 1.0
    chunk = 8
    for i in range(0, order.size, chunk):
        idx = order[i : i + chunk]
        idx = idx[(lower[idx] < best) & ((lower[idx] < stop_below) | (stop_below <= 0))]
        if idx.size:
            p = hypergeom.cdf(k[idx], population[idx], relevant[idx], draws[idx])
            best = min(best, float(p.min()))
        if best < stop_below:
            break
        chunk *= 2
    return float(min(1.0, max(0.0, best)))


def buscar_p_value(
    labels_in_order: Sequence[int],
    n_total: int,
    target_recall: float = 0.95,
) -> float:
    """P-value of "recall is below the target" after prioritised screening (buscar).

    Implements ``calculate_h0`` of Callaghan & Müller-Hansen (2020,
    Systematic Reviews 9:273; Python package ``buscarpy``) with ``bias=1``:
    the minimum over windows of the most recently screened records of the
    hypergeometric probability of finding at most as many relevant records
    in the window as were found, if the target recall had been missed. See the
    module docstring for which windows are evaluated.

    Parameters
    ----------
    labels_in_order : sequence of int
        Screening labels in screening order (1 relevant, 0 irrelevant).
    n_total : int
        Records in the review, screened or not.
    target_recall : float, default=0.95
        The recall the reviewer wants to have reached.

    Returns
    -------
    float
        The p-value. Stop with confidence ``c`` when it is below ``1 - c``.
        1.0 when nothing has been screened; 0.0 when too few records are left
        unscreened for the target to have been missed.

    Raises
    ------
    ValueError
        If a label is not 0 or 1, ``n_total`` is smaller than the number of
        labels, or ``target_recall`` is not in (0, 1].

    Examples
    --------
    100 relevant records found early, then 900 irrelevant in a row, out of 2000:

    >>> labels = [1] * 100 + [0] * 900
    >>> buscar_p_value(labels, 2000) < 0.05
    True
    >>> buscar_p_value(labels[:500], 2000) < 0.05
    False

    Nothing relevant found yet: the p-value is the share of records unscreened.

    >>> buscar_p_value([0] * 250, 1000)
    0.75
    """
    y = _as_labels(labels_in_order, n_total)
    return _min_window_p(y, int(n_total), _remaining_to_miss(int(y.sum()), target_recall))


def random_sample_p_value(
    n_screened_before: int,
    n_relevant_before: int,
    sample_size: int,
    n_relevant_in_sample: int,
    n_total: int,
    target_recall: float = 0.95,
) -> float:
    """P-value of "recall is below the target" from a simple random sample.

    The design of Callaghan & Müller-Hansen (2020): after prioritised
    screening of ``n_screened_before`` records, draw ``sample_size`` of the
    ``n_total - n_screened_before`` remaining records at random without
    replacement (:func:`draw_random_sample`) and screen them. Under the null
    hypothesis that recall (after the sample) is below ``target_recall``, at
    least ``K_tar`` relevant records would be among the remaining ones; the
    p-value is the hypergeometric probability of seeing at most
    ``n_relevant_in_sample`` relevant records in the sample. It holds however
    poor the ranking before the sample was.

    Parameters
    ----------
    n_screened_before : int
        Records screened before the random sample began.
    n_relevant_before : int
        Relevant records among them.
    sample_size : int
        Records screened in the random sample so far.
    n_relevant_in_sample : int
        Relevant records found in the sample.
    n_total : int
        Records in the review.
    target_recall : float, default=0.95

    Returns
    -------
    float

    Examples
    --------
    Hand check: 50 found in 300 prioritised records out of 1000; a random
    sample of 400 of the other 700 holds no relevant record. Missing 95% recall
    would need ``K_tar = floor(50 / 0.95) - 50 + 1 = 3`` relevant records among
    the 700, and then the chance of a clean sample is
    ``C(697, 400) / C(700, 400)``:

    >>> from math import comb
    >>> p = random_sample_p_value(300, 50, 400, 0, 1000)
    >>> abs(p - comb(697, 400) / comb(700, 400)) < 1e-12
    True
    >>> round(p, 4)
    0.0783
    """
    if not 0 <= n_screened_before <= n_total or not 0 <= sample_size <= n_total - n_screened_before:
        raise ValueError("need 0 <= n_screened_before and n_screened_before + sample_size <= n_total")
    if not 0 <= n_relevant_before <= n_screened_before or not 0 <= n_relevant_in_sample <= sample_size:
        raise ValueError("relevant counts must lie between 0 and the number of records they come from")
    found = n_relevant_before + n_relevant_in_sample
    remaining = _remaining_to_miss(found, target_recall)
    population = n_total - n_screened_before
    if sample_size == 0:
        return 1.0
    if remaining > population - sample_size:
        return 0.0
    k = n_relevant_in_sample
    return float(min(1.0, hypergeom.cdf(k, population, k + remaining, sample_size)))


def random_sample_size_needed(
    n_total: int,
    n_screened: int,
    n_relevant_found: int,
    target_recall: float = 0.95,
    confidence: float = 0.95,
) -> int:
    """Smallest random sample of the remaining records that can show the target is reached.

    The size ``n`` such that, if the sample turns out to contain no relevant
    record, :func:`random_sample_p_value` is below ``1 - confidence``. If
    relevant records do turn up in the sample, more must be screened.

    Parameters
    ----------
    n_total : int
        Records in the review.
    n_screened : int
        Records screened (in prioritised order) before the sample.
    n_relevant_found : int
        Relevant records among them.
    target_recall, confidence : float, default=0.95

    Returns
    -------
    int
        Between 0 and ``n_total - n_screened`` (screening everything always
        suffices).

    Examples
    --------
    >>> n = random_sample_size_needed(1000, 300, 50)
    >>> n
    442
    >>> random_sample_p_value(300, 50, n, 0, 1000) < 0.05
    True
    >>> random_sample_p_value(300, 50, n - 1, 0, 1000) < 0.05
    False
    """
    alpha = _significance(confidence)
    population = n_total - n_screened
    if population <= 0:
        return 0
    lo, hi = 0, population  # p(hi) == 0 < alpha; p is nonincreasing in the sample size
    while lo < hi:
        mid = (lo + hi) // 2
        if random_sample_p_value(n_screened, n_relevant_found, mid, 0, n_total, target_recall) < alpha:
            hi = mid
        else:
            lo = mid + 1
    return lo


def draw_random_sample(remaining_ids: Sequence[Any], n: int, random_state: Any = None) -> list[Any]:
    """Draw ``n`` of the unscreened records uniformly at random, without replacement.

    Parameters
    ----------
    remaining_ids : sequence
        Identifiers of the records not yet screened.
    n : int
        Sample size (see :func:`random_sample_size_needed`).
    random_state : None, int or numpy.random.RandomState
        Resolved once with :func:`sklearn.utils.check_random_state`; an int
        gives the same sample every time.

    Returns
    -------
    list
        The sampled identifiers, in the order to screen them.

    Examples
    --------
    >>> ids = [f"r{i}" for i in range(10)]
    >>> draw_random_sample(ids, 3, random_state=0) == draw_random_sample(ids, 3, random_state=0)
    True
    >>> len(set(draw_random_sample(ids, 10, random_state=1)))
    10
    """
    ids = list(remaining_ids)
    if not 0 <= n <= len(ids):
        raise ValueError(f"cannot draw {n} records from {len(ids)}")
    rng = check_random_state(random_state)
    return [ids[i] for i in rng.choice(len(ids), size=n, replace=False)]


def knee_slope_ratio(labels_in_order: Sequence[int]) -> tuple[int, float] | None:
    """The knee of the gain curve and the slope ratio at it (Cormack & Grossman 2016).

    The gain curve plots relevant records found against records screened.
    The knee is the point of the curve farthest above the straight line from
    the origin to the current point (the Kneedle criterion of Satopää et al.
    2011, as used by Cormack & Grossman). The slope ratio is
    ``rho = (rel(knee) / knee) / ((rel(s) - rel(knee) + 1) / (s - knee))``,
    the ``+ 1`` keeping it finite when nothing was found after the knee.

    Parameters
    ----------
    labels_in_order : sequence of int

    Returns
    -------
    (knee, rho) or None
        ``knee`` is the 1-based number of records screened at the knee.
        ``None`` when there is no knee (nothing relevant, or the curve never
        rises above the line).

    Examples
    --------
    >>> knee_slope_ratio([1] * 10 + [0] * 90)
    (10, 90.0)
    """
    y = np.asarray(labels_in_order, dtype=np.int64).ravel()
    s = y.size
    gain = np.cumsum(y)
    if s < 2 or gain[-1] == 0:
        return None
    x = np.arange(1, s + 1)
    height = gain * s - gain[-1] * x  # proportional to the distance above the line
    i = int(np.argmax(height))
    if height[i] <= 0 or i + 1 >= s:
        return None
    knee = i + 1
    rho = (gain[i] / knee) / ((gain[-1] - gain[i] + 1) / (s - knee))
    return knee, float(rho)


# ---------------------------------------------------------------------------
# rules


class StoppingRule(ABC):
    """A stopping rule: replays the labels so far and says whether to stop.

    Subclasses are frozen dataclasses whose fields are the rule's parameters.

    Attributes
    ----------
    name : str
        Canonical spec, parseable by :func:`parse_rules`.
    guarantee : bool
        True only for rules whose stopping decision carries a statistical
        recall guarantee.
    params : dict
        The parameters, e.g. for ``ReviewStore.record_stop``.
    """

    guarantee: ClassVar[bool] = False

    @property
    @abstractmethod
    def name(self) -> str:
        """Canonical spec of the rule."""

    @property
    def params(self) -> dict[str, Any]:
        """The rule's parameters as a plain dict."""
        return asdict(self)  # type: ignore[call-overload]

    @abstractmethod
    def check(self, labels_in_order: Sequence[int], n_total: int) -> StopCheck:
        """Whether to stop after screening ``labels_in_order`` out of ``n_total`` records."""

    def first_stop(self, labels_in_order: Sequence[int], n_total: int, *, step: int | None = None) -> int | None:
        """1-based number of records screened at which the rule first fires (generic replay)."""
        y = _as_labels(labels_in_order, n_total)
        step = step or 1
        for s in _checkpoints(y.size, step, start=step):
            if self.check(y[:s], n_total).stop:
                return s
        return None


def _checkpoints(n: int, step: int, start: int = 1) -> list[int]:
    """``start``, then every multiple of ``step`` above it, then ``n`` (all capped at ``n``)."""
    if step < 1:
        raise ValueError("step must be >= 1")
    start = max(1, start)
    if start > n:
        return []
    points = [start, *range((start // step + 1) * step, n + 1, step)]
    if points[-1] != n:
        points.append(n)
    return points


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class BuscarRule(StoppingRule):
    """Stop when buscar rejects "recall < target" at the confidence level (guarantee).

    Callaghan & Müller-Hansen (2020, Systematic Reviews 9:273), see
    :func:`buscar_p_value`. Spec: ``"buscar[:target[:confidence]]"``.

    With nothing relevant found, the p-value is the share of records not yet
    screened, so the rule cannot fire before ``confidence * n_total`` records
    have been screened. More generally a window of ``n`` records with no
    relevant one, out of the ``M`` unscreened when it began, has
    ``p ~ (1 - n / M) ** K_tar``, so with few relevant records found
    (``K_tar`` small) it must cover most of what was left: the test itself is
    the minimum sample, and no extra one is imposed by default
    (``min_screened=0``).

    The guarantee assumes a ranking better than random order: on random
    orders, checked after every record, it missed the target in 10-22% of
    synthetic runs (module docstring); use :class:`RandomSampleRule` when the
    ranking may be poor.

    Parameters
    ----------
    target_recall : float, default=0.95
    confidence : float, default=0.95
    min_screened : int, default=0
        Optionally never fire before this many records have been screened.

    Examples
    --------
    >>> rule = BuscarRule(0.95, 0.95)
    >>> rule.guarantee, rule.name
    (True, 'buscar:0.95:0.95')
    >>> labels = [1] * 100 + [0] * 900
    >>> rule.check(labels, 2000).stop
    True
    >>> first_stop(rule, labels, 2000)
    846
    """

    target_recall: float = 0.95
    confidence: float = 0.95
    min_screened: int = 0

    guarantee: ClassVar[bool] = True

    @property
    def name(self) -> str:
        base = f"buscar:{_fmt(self.target_recall)}:{_fmt(self.confidence)}"
        return base + (f":{self.min_screened}" if self.min_screened else "")

    @property
    def _alpha(self) -> float:
        return _significance(self.confidence)

    def check(self, labels_in_order: Sequence[int], n_total: int) -> StopCheck:
        y = _as_labels(labels_in_order, n_total)
        p = buscar_p_value(y, n_total, self.target_recall)
        stop = p < self._alpha and y.size >= self.min_screened
        verdict = "reject" if p < self._alpha else "cannot reject"
        return StopCheck(
            stop=bool(stop),
            p_value=p,
            message=(
                f"p = {p:.4g} for 'recall < {_fmt(self.target_recall)}' after {y.size} of {n_total} records "
                f"({int(y.sum())} relevant found): {verdict} at {_fmt(self.confidence)} confidence"
            ),
        )

    def first_stop(self, labels_in_order: Sequence[int], n_total: int, *, step: int | None = None) -> int | None:
        """Exact first firing point; with ``step`` only every ``step`` records (and the last) are checked."""
        y = _as_labels(labels_in_order, n_total)
        alpha = self._alpha
        if step is not None and step > 1:
            return super().first_stop(y, n_total, step=step)
        ones = np.flatnonzero(y)
        bounds = [0, *(int(i) + 1 for i in ones)]  # segment j starts after j relevant records
        ends = [*(int(i) for i in ones), y.size]
        for j, (lo, hi) in enumerate(zip(bounds, ends)):
            lo = max(lo, 1, self.min_screened)
            if lo > hi:
                continue
            remaining = _remaining_to_miss(j, self.target_recall)
            if _min_window_p(y[:hi], n_total, remaining, stop_below=alpha) >= alpha:
                continue  # p only decreases within the run, so nothing in it fires
            while lo < hi:  # bisect for the first prefix that fires
                mid = (lo + hi) // 2
                if _min_window_p(y[:mid], n_total, remaining, stop_below=alpha) < alpha:
                    hi = mid
                else:
                    lo = mid + 1
            return lo
        return None


@dataclass(frozen=True)
class RandomSampleRule(StoppingRule):
    """Stop when a random sample of the remaining records rejects "recall < target" (guarantee).

    The records screened from position ``sample_start`` on (0-based; i.e.
    after the first ``sample_start`` records) must be a simple random sample
    of the records unscreened at that point (:func:`draw_random_sample`).
    Spec: ``"random:<start>[:target[:confidence]]"``.

    Parameters
    ----------
    sample_start : int
        Records screened in prioritised order before the random sample.
    target_recall : float, default=0.95
    confidence : float, default=0.95

    Examples
    --------
    >>> rule = RandomSampleRule(300)
    >>> labels = [1] * 50 + [0] * 250 + [0] * 442
    >>> rule.check(labels, 1000).stop
    True
    >>> first_stop(rule, labels, 1000)
    742
    """

    sample_start: int
    target_recall: float = 0.95
    confidence: float = 0.95

    guarantee: ClassVar[bool] = True

    @property
    def name(self) -> str:
        return f"random:{self.sample_start}:{_fmt(self.target_recall)}:{_fmt(self.confidence)}"

    def check(self, labels_in_order: Sequence[int], n_total: int) -> StopCheck:
        y = _as_labels(labels_in_order, n_total)
        alpha = _significance(self.confidence)
        if y.size <= self.sample_start:
            return StopCheck(False, None, f"random sample not started (it begins after record {self.sample_start})")
        n = y.size - self.sample_start
        k = int(y[self.sample_start :].sum())
        p = random_sample_p_value(self.sample_start, int(y[: self.sample_start].sum()), n, k, n_total,
                                  self.target_recall)
        return StopCheck(
            stop=p < alpha,
            p_value=p,
            message=(
                f"p = {p:.4g} for 'recall < {_fmt(self.target_recall)}' from a random sample of {n} "
                f"unscreened records ({k} relevant)"
            ),
        )

    def first_stop(self, labels_in_order: Sequence[int], n_total: int, *, step: int | None = None) -> int | None:
        """Exact first firing point (the p-value only falls between relevant records, so bisect there)."""
        y = _as_labels(labels_in_order, n_total)
        if step is not None and step > 1:
            return super().first_stop(y, n_total, step=step)
        start = self.sample_start
        alpha = _significance(self.confidence)
        found_before = int(y[:start].sum())
        sample = y[start:]
        ones = np.flatnonzero(sample)
        # sample sizes in [lo, hi] hold the same number k of relevant records
        lows = [1, *(int(i) + 1 for i in ones)]
        highs = [*(int(i) for i in ones), sample.size]
        for k, (lo, hi) in enumerate(zip(lows, highs)):

            def p(n: int, k: int = k) -> float:
                return random_sample_p_value(start, found_before, n, k, n_total, self.target_recall)

            if lo > hi or p(hi) >= alpha:
                continue
            while lo < hi:
                mid = (lo + hi) // 2
                if p(mid) < alpha:
                    hi = mid
                else:
                    lo = mid + 1
            return start + lo
        return None


@dataclass(frozen=True)
class KneeRule(StoppingRule):
    """The knee method of Cormack & Grossman (2016). Heuristic: NO recall guarantee.

    G. V. Cormack and M. R. Grossman, "Engineering quality and reliability in
    technology-assisted review", SIGIR 2016. Stop when the slope ratio at the
    knee of the gain curve (:func:`knee_slope_ratio`) is at least
    ``156 - min(relevant_found, 150)`` (``rho="dynamic"``: the ratio of 6 of
    the paper, plus 150 less one per relevant record found, which guards
    reviews with few relevant records), and at least ``min_screened`` records
    have been screened. These thresholds follow the common re-implementations
    of the rule (e.g. ``tarexp``, ``auto-stop-tar``), which use a minimum of
    150 records; some descriptions of the published rule use 1000 (spec
    ``knee:dynamic:1000``). A number for ``rho`` gives a fixed threshold
    instead. Cormack & Grossman check at the end of
    each screening batch; :func:`first_stop` checks every ``step`` records
    (default ``max(1, n_total // 1000)``).
    Spec: ``"knee[:rho[:min_screened]]"``.

    Parameters
    ----------
    rho : "dynamic" or float, default="dynamic"
    min_screened : int, default=150

    Examples
    --------
    >>> rule = KneeRule()
    >>> rule.guarantee
    False
    >>> rule.check([1] * 10 + [0] * 200, 1000).stop
    True
    >>> rule.check([1] * 10 + [0] * 100, 1000).stop  # fewer than 150 screened
    False
    """

    rho: float | str = "dynamic"
    min_screened: int = 150

    guarantee: ClassVar[bool] = False

    @property
    def name(self) -> str:
        parts = ["knee"]
        if self.rho != "dynamic" or self.min_screened != 150:
            parts.append(str(self.rho) if isinstance(self.rho, str) else _fmt(self.rho))
        if self.min_screened != 150:
            parts.append(str(self.min_screened))
        return ":".join(parts)

    def threshold(self, n_relevant_found: int) -> float:
        """The slope ratio needed to stop."""
        if self.rho == "dynamic":
            return 156 - min(n_relevant_found, 150)
        return float(self.rho)

    def check(self, labels_in_order: Sequence[int], n_total: int) -> StopCheck:
        y = _as_labels(labels_in_order, n_total)
        found = int(y.sum())
        need = self.threshold(found)
        if y.size < self.min_screened:
            return StopCheck(False, None, f"knee (no guarantee): fewer than {self.min_screened} records screened")
        knee = knee_slope_ratio(y)
        if knee is None:
            return StopCheck(False, None, "knee (no guarantee): no knee in the gain curve yet")
        at, rho = knee
        return StopCheck(
            stop=rho >= need,
            p_value=None,
            message=f"knee (no guarantee) at record {at}: slope ratio {rho:.3g}, needs >= {need:g}",
        )

    def first_stop(self, labels_in_order: Sequence[int], n_total: int, *, step: int | None = None) -> int | None:
        y = _as_labels(labels_in_order, n_total)
        step = step or max(1, n_total // 1000)
        for s in _checkpoints(y.size, step, start=self.min_screened):
            if self.check(y[:s], n_total).stop:
                return s
        return None


@dataclass(frozen=True)
class ConsecutiveIrrelevantRule(StoppingRule):
    """Stop after ``n`` irrelevant records in a row. Heuristic: NO recall guarantee.

    Spec: ``"consecutive:<n>"``.

    Parameters
    ----------
    n : int, default=50

    Examples
    --------
    >>> rule = ConsecutiveIrrelevantRule(3)
    >>> rule.check([1, 0, 0, 0], 10).stop, rule.check([0, 0, 1, 0], 10).stop
    (True, False)
    >>> first_stop(rule, [1, 0, 0, 1, 0, 0, 0, 0], 10)
    7
    """

    n: int = 50

    guarantee: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return f"consecutive:{self.n}"

    def check(self, labels_in_order: Sequence[int], n_total: int) -> StopCheck:
        y = _as_labels(labels_in_order, n_total)
        ones = np.flatnonzero(y)
        run = y.size - (int(ones[-1]) + 1 if ones.size else 0)
        return StopCheck(
            stop=run >= self.n,
            p_value=None,
            message=f"{run} irrelevant records in a row (stop at {self.n}; no guarantee)",
        )

    def first_stop(self, labels_in_order: Sequence[int], n_total: int, *, step: int | None = None) -> int | None:
        y = _as_labels(labels_in_order, n_total)
        run_start = 0  # index of the first record of the current run of irrelevant records
        for i, label in enumerate(y):
            if label:
                run_start = i + 1
            elif i + 1 - run_start >= self.n:
                return i + 1
        return None


@dataclass(frozen=True)
class ShareScreenedRule(StoppingRule):
    """Stop once a fixed share of all records has been screened. Heuristic: NO recall guarantee.

    Spec: ``"share:<fraction>"``.

    Parameters
    ----------
    share : float, default=0.5

    Examples
    --------
    >>> ShareScreenedRule(0.5).check([0] * 50, 100).stop
    True
    >>> first_stop(ShareScreenedRule(0.1), [0] * 30, 30)
    3
    """

    share: float = 0.5

    guarantee: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return f"share:{_fmt(self.share)}"

    def _needed(self, n_total: int) -> int:
        return math.ceil(_check_fraction(self.share, "share") * n_total)

    def check(self, labels_in_order: Sequence[int], n_total: int) -> StopCheck:
        y = _as_labels(labels_in_order, n_total)
        need = self._needed(n_total)
        return StopCheck(
            stop=y.size >= need,
            p_value=None,
            message=f"{y.size} of {n_total} records screened (stop at {need}; no guarantee)",
        )

    def first_stop(self, labels_in_order: Sequence[int], n_total: int, *, step: int | None = None) -> int | None:
        y = _as_labels(labels_in_order, n_total)
        need = max(1, self._needed(n_total))
        return need if need <= y.size else None


# ---------------------------------------------------------------------------
# parsing, replay and evaluation

_RULES_HELP = (
    "buscar[:target[:confidence]], random:<start>[:target[:confidence]], knee[:rho[:min_screened]], "
    "consecutive:<n>, share:<fraction>"
)


def _parse_one(spec: str) -> StoppingRule:
    name, *args = [part.strip() for part in spec.strip().split(":")]
    name = name.lower()
    try:
        if name == "buscar" and len(args) <= 3:
            kw: dict[str, Any] = dict(zip(("target_recall", "confidence"), map(float, args[:2])))
            if len(args) == 3:
                kw["min_screened"] = int(args[2])
            rule: StoppingRule = BuscarRule(**kw)
        elif name == "random" and 1 <= len(args) <= 3:
            rule = RandomSampleRule(int(args[0]), *map(float, args[1:]))
        elif name == "knee" and len(args) <= 2:
            kw = {}
            if args:
                kw["rho"] = "dynamic" if args[0] == "dynamic" else float(args[0])
            if len(args) == 2:
                kw["min_screened"] = int(args[1])
            rule = KneeRule(**kw)
        elif name == "consecutive" and len(args) <= 1:
            rule = ConsecutiveIrrelevantRule(*map(int, args))
        elif name == "share" and len(args) <= 1:
            rule = ShareScreenedRule(*map(float, args))
        else:
            raise ValueError
    except ValueError:
        raise ValueError(f"cannot read stopping rule {spec!r}; expected one of: {_RULES_HELP}") from None
    _validate(rule)
    return rule


def _validate(rule: StoppingRule) -> None:
    if isinstance(rule, (BuscarRule, RandomSampleRule)):
        _check_fraction(rule.target_recall, "target_recall")
        _check_fraction(rule.confidence, "confidence", allow_one=False)
    if isinstance(rule, ShareScreenedRule):
        _check_fraction(rule.share, "share")
    if isinstance(rule, ConsecutiveIrrelevantRule) and rule.n < 1:
        raise ValueError("consecutive:<n> needs n >= 1")


def parse_rules(spec: str) -> list[StoppingRule]:
    """Read a comma-separated list of stopping rules.

    Parameters
    ----------
    spec : str
        E.g. ``"buscar,knee,consecutive:50,share:0.5,buscar:0.9:0.99"``.
        ``buscar:0.9:0.99`` means target recall 0.9 at 99% confidence.

    Returns
    -------
    list of StoppingRule

    Raises
    ------
    ValueError
        For an unknown rule or malformed parameters.

    Examples
    --------
    >>> rules = parse_rules("buscar:0.9:0.99, knee, consecutive:50, share:0.5")
    >>> [(r.name, r.guarantee) for r in rules]
    [('buscar:0.9:0.99', True), ('knee', False), ('consecutive:50', False), ('share:0.5', False)]
    >>> parse_rules("buscar:0.9:0.99")[0].params
    {'target_recall': 0.9, 'confidence': 0.99, 'min_screened': 0}
    """
    parts = [p for p in spec.split(",") if p.strip()]
    if not parts:
        raise ValueError(f"no stopping rule given; expected one of: {_RULES_HELP}")
    return [_parse_one(p) for p in parts]


def _as_rule(rule: StoppingRule | str) -> StoppingRule:
    if isinstance(rule, StoppingRule):
        return rule
    (parsed,) = parse_rules(rule)
    return parsed


def first_stop(
    rule: StoppingRule | str,
    labels_in_order: Sequence[int],
    n_total: int,
    *,
    step: int | None = None,
) -> int | None:
    """Replay a screening order: after how many records would the rule first fire?

    Parameters
    ----------
    rule : StoppingRule or str
        A rule or a spec such as ``"buscar"``.
    labels_in_order : sequence of int
        Labels of the records in screening order (usually a complete
        simulated order).
    n_total : int
        Records in the review.
    step : int, optional
        Check only every ``step`` records (and after the last one), as a
        reviewer checking after each batch would. ``None`` uses each rule's
        default: exact (every record) for buscar, random, consecutive and
        share (each has an efficient replay, see the module docstring);
        ``max(1, n_total // 1000)`` for knee.

    Returns
    -------
    int or None
        1-based number of records screened when the rule first fires, or
        ``None`` if it never fires on these labels.

    Examples
    --------
    >>> labels = [1] * 100 + [0] * 900
    >>> first_stop("consecutive:50", labels, 2000)
    150
    >>> first_stop("buscar", labels, 2000)
    846
    """
    return _as_rule(rule).first_stop(labels_in_order, n_total, step=step)


def evaluate_rules(
    labels_in_order: Sequence[int],
    rules: Sequence[StoppingRule | str] | str,
    n_total: int | None = None,
    n_relevant_total: int | None = None,
    *,
    step: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Replay a screening order against several stopping rules.

    Meant for simulations (``ldnscreen simulate --stopping``): pass the labels
    of the whole simulated screening order.

    Parameters
    ----------
    labels_in_order : sequence of int
        Labels in screening order.
    rules : sequence of StoppingRule or str, or str
        Rules, specs, or one comma-separated spec string.
    n_total : int, optional
        Records in the review; defaults to ``len(labels_in_order)``.
    n_relevant_total : int, optional
        Relevant records in the review; defaults to ``sum(labels_in_order)``,
        which is only right when the labels cover every record.
    step : int, optional
        Passed to :func:`first_stop`.

    Returns
    -------
    dict
        ``{rule.name: {"stopped_at", "n_screened", "recall", "work_saved",
        "guarantee"}}``. ``stopped_at`` is the 1-based stopping point or
        ``None`` if the rule never fired; then ``n_screened`` is every record
        in ``labels_in_order`` (screening everything). ``recall`` is relevant
        found by ``n_screened`` over ``n_relevant_total`` (1.0 if there is
        none); ``work_saved`` is ``1 - n_screened / n_total``.

    Examples
    --------
    >>> labels = [1] * 100 + [0] * 1900
    >>> result = evaluate_rules(labels, "buscar,share:0.5,consecutive:2000")
    >>> result["buscar:0.95:0.95"]
    {'stopped_at': 846, 'n_screened': 846, 'recall': 1.0, 'work_saved': 0.577, 'guarantee': True}
    >>> result["consecutive:2000"]["stopped_at"] is None, result["consecutive:2000"]["work_saved"]
    (True, 0.0)
    """
    y = np.asarray(labels_in_order, dtype=np.int64).ravel()
    n_total = y.size if n_total is None else int(n_total)
    y = _as_labels(y, n_total)
    if n_relevant_total is None:
        if y.size < n_total:
            raise ValueError("n_relevant_total is needed when the labels do not cover every record")
        n_relevant_total = int(y.sum())
    if isinstance(rules, str):
        rules = parse_rules(rules)
    found = np.concatenate(([0], np.cumsum(y)))
    out: dict[str, dict[str, Any]] = {}
    for rule in map(_as_rule, rules):
        stopped = rule.first_stop(y, n_total, step=step)
        n = y.size if stopped is None else stopped
        out[rule.name] = {
            "stopped_at": stopped,
            "n_screened": int(n),
            "recall": float(found[n] / n_relevant_total) if n_relevant_total else 1.0,
            "work_saved": (n_total - n) / n_total if n_total else 0.0,
            "guarantee": rule.guarantee,
        }
    return out


def _largest_not_rejected(y: np.ndarray, n_total: int, level: float) -> int:
    """Largest K with p(H0: at least K relevant unscreened) >= level (p nonincreasing in K)."""
    def kept(K: int) -> bool:
        return _min_window_p(y, n_total, K, stop_below=level) >= level

    top = n_total - y.size
    lo, hi = 0, 1  # gallop up from 0 (bounds are usually small), then bisect
    while hi <= top and kept(hi):
        lo, hi = hi, 2 * hi
    hi = min(hi - 1, top)  # the answer lies in [lo, hi]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if kept(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _recall(found: int, remaining: int) -> float:
    return 1.0 if found + remaining == 0 else found / (found + remaining)


def stopping_estimate(
    review: SupportsStoppingInputs | Sequence[int],
    n_total: int | None = None,
    *,
    target: float = 0.95,
    confidence: float = 0.95,
) -> StoppingEstimate:
    """Estimate recall so far and the relevant records left, and say whether to stop.

    Uses the hypergeometric reasoning of buscar (:func:`buscar_p_value`):
    for each hypothesised number ``K`` of relevant records still unscreened,
    the minimum over windows of ``P(X <= k)`` is the p-value of "at least
    ``K`` remain"; it decreases with ``K``. The upper end of
    ``remaining_interval`` is the largest ``K`` not rejected at
    ``1 - confidence``; the point estimate is the largest ``K`` not rejected
    at 0.5. The guarantee assumes the ranking is at least as good as random
    (see the module docstring).

    Parameters
    ----------
    review : object with ``stopping_inputs()`` or sequence of int
        A review/store whose ``stopping_inputs()`` returns
        ``(labels_in_order, n_total)``, or the labels themselves.
    n_total : int, optional
        Required when ``review`` is a sequence of labels.
    target : float, default=0.95
        Target recall.
    confidence : float, default=0.95

    Returns
    -------
    StoppingEstimate

    Examples
    --------
    >>> labels = [1] * 100 + [0] * 900
    >>> est = stopping_estimate(labels, 2000)
    >>> est.safe_to_stop, est.remaining_interval, est.estimated_remaining
    (True, (0, 4), 1)
    >>> est = stopping_estimate(labels[:500], 2000)
    >>> est.safe_to_stop, est.remaining_interval, round(est.recall_interval[0], 3)
    (False, (0, 12), 0.893)
    """
    if isinstance(review, SupportsStoppingInputs):
        labels, n_total = review.stopping_inputs()
    elif n_total is None:
        raise TypeError("pass n_total with a sequence of labels, or an object with stopping_inputs()")
    else:
        labels = review
    y = _as_labels(labels, n_total)
    alpha = _significance(confidence)
    found = int(y.sum())
    upper = _largest_not_rejected(y, int(n_total), alpha)
    point = _largest_not_rejected(y, int(n_total), 0.5)
    p = buscar_p_value(y, n_total, target)
    return StoppingEstimate(
        n_screened=int(y.size),
        n_total=int(n_total),
        n_relevant_found=found,
        estimated_remaining=point,
        remaining_interval=(0, upper),
        recall_estimate=_recall(found, point),
        recall_interval=(_recall(found, upper), 1.0),
        target=target,
        confidence=confidence,
        p_value=p,
        safe_to_stop=p < alpha,
        rule=BuscarRule(target, confidence).name,
    )


def describe_estimate(estimate: StoppingEstimate) -> str:
    """One or two sentences for a reviewer, saying what :func:`stopping_estimate` found.

    Parameters
    ----------
    estimate : StoppingEstimate

    Returns
    -------
    str

    Examples
    --------
    >>> estimate = stopping_estimate([1] * 100 + [0] * 900, 2000)
    >>> print(describe_estimate(estimate))  # doctest: +NORMALIZE_WHITESPACE
    100 relevant found in 1000 of 2000 records; about 1 relevant left
    (at most 4 with 95% confidence), recall about 99.0% (at least 96.2%).
    Safe to stop: 'recall < 95%' rejected, p = 0.0211 (buscar, Callaghan & Müller-Hansen 2020).
    """
    e = estimate
    head = (
        f"{e.n_relevant_found} relevant found in {e.n_screened} of {e.n_total} records; "
        f"about {e.estimated_remaining} relevant left (at most {e.remaining_interval[1]} with "
        f"{e.confidence:.0%} confidence), recall about {e.recall_estimate:.1%} "
        f"(at least {e.recall_interval[0]:.1%})."
    )
    if e.safe_to_stop:
        verdict = f" Safe to stop: 'recall < {e.target:.0%}' rejected, p = {e.p_value:.3g}"
    else:
        verdict = f" Not yet safe to stop: 'recall < {e.target:.0%}' not rejected, p = {e.p_value:.3g}"
    return head + verdict + " (buscar, Callaghan & Müller-Hansen 2020)."


def simulated_screening_labels(
    n_total: int,
    n_relevant: int,
    bias: float = 10.0,
    random_state: Any = None,
) -> np.ndarray:
    """Labels of a synthetic prioritised screening order, for testing stopping rules.

    Records are drawn one by one without replacement, a relevant record being
    ``bias`` times as likely to be drawn next as an irrelevant one (the
    biased urn of Callaghan & Müller-Hansen's simulations; ``bias=1`` is
    random screening order). Uses the Efraimidis-Spirakis keys, which give
    exactly that sequential weighted draw.

    Parameters
    ----------
    n_total, n_relevant : int
    bias : float, default=10.0
    random_state : None, int or numpy.random.RandomState

    Returns
    -------
    numpy.ndarray of int
        0/1 labels in screening order.

    Examples
    --------
    >>> y = simulated_screening_labels(1000, 20, bias=50, random_state=0)
    >>> int(y.sum()), int(y[:200].sum()) > 10
    (20, True)
    """
    if not 0 <= n_relevant <= n_total or bias <= 0:
        raise ValueError("need 0 <= n_relevant <= n_total and bias > 0")
    rng = check_random_state(random_state)
    y = np.zeros(n_total, dtype=np.int64)
    y[:n_relevant] = 1
    weights = np.where(y == 1, float(bias), 1.0)
    keys = np.log(rng.uniform(size=n_total)) / weights  # larger key = drawn earlier
    return y[np.argsort(-keys, kind="stable")]
